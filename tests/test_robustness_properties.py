"""The robustness suite, part 2: property-based tests. Whatever bytes, overrides or model folder a user
hands in, ageshift gives a result or an :class:`AgeshiftError`, never another exception."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ageshift.errors import AgeshiftError

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
# Derandomized: CI runs the same examples every time; no example database is written into the checkout.
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _encoded(format_: str) -> bytes:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format=format_)
    return buffer.getvalue()


VALID_FILES = {fmt: _encoded(fmt) for fmt in ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")}


@st.composite
def damaged_files(draw) -> tuple[str, bytes]:
    """A valid file of some format with bytes flipped, cut off, or inserted, or plain random bytes."""
    fmt = draw(st.sampled_from(sorted(VALID_FILES)))
    data = bytearray(VALID_FILES[fmt])
    how = draw(st.sampled_from(["flip", "truncate", "insert", "random"]))
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif how == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "insert":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=64))
    else:
        data = bytearray(draw(st.binary(max_size=512)))
    suffix = draw(st.sampled_from([".png", ".jpg", ".webp", ".bmp", ".tif"]))
    return suffix, bytes(data)


@PROPERTY
@given(damaged_files())
def test_any_file_loads_as_rgb_or_is_refused_clearly(tmp_path, damaged):
    from ageshift.io import load_image

    suffix, data = damaged
    path = tmp_path / f"photo{suffix}"
    path.write_bytes(data)
    try:
        image = load_image(path)
    except AgeshiftError as error:
        assert str(path) in str(error)
        return
    assert image.mode == "RGB" and image.width >= 1 and image.height >= 1


def _dotted_keys(document: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in document.items():
        dotted = f"{prefix}{key}"
        keys.append(dotted)
        if isinstance(value, dict):
            keys += _dotted_keys(value, dotted + ".")
    return keys


def _config_keys(family: str) -> list[str]:
    from ageshift.config import to_dict
    from ageshift.training.config import train_config

    config = train_config("fast", family=family)
    model = {f"model.{key}" for key in _dotted_keys(to_dict(config.model_config()))}
    return sorted(set(_dotted_keys(to_dict(config))) | model)


YAML_VALUES = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "null", "true", "[]", "{}", "[0.5]", "[1, 2, 3]", "{a: 1}", "nan", "-inf", "'x'"]),
    st.text(max_size=12),
    st.sampled_from(["[{size: 0, batch_size: 1, steps: 1}]", "[{size: 16, batch_size: -1, steps: 1}]"]),
)


@pytest.mark.parametrize("family", ["cyclegan", "stargan"])
@PROPERTY
@given(data=st.data())
def test_any_override_gives_a_config_or_a_config_error(family, data):
    from ageshift.training.config import train_config

    keys = _config_keys(family)
    key = data.draw(st.one_of(st.sampled_from(keys), st.text(max_size=16)), label="key")
    value = data.draw(YAML_VALUES, label="value")
    try:
        config = train_config("fast", overrides=[f"{key}={value}"], family=family)
        config.model_config()
    except AgeshiftError:
        return


# --- model folders --------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**15), 10**15),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


def _paths(document, prefix=()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*prefix, index))
    return found


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory) -> dict[str, Path]:
    """One real exported folder per kind that loads through ``ageshift.load``: two-domain and conditional."""
    from ageshift.config import to_dict
    from ageshift.models.cyclegan import CycleGAN, cyclegan_config
    from ageshift.models.translator import TwoDomainTranslator

    root = tmp_path_factory.mktemp("models")
    config = cyclegan_config("fast", {"generator": {"channels": 4, "num_res_blocks": 1}, "image_size": 16})
    torch.manual_seed(0)
    two_domain = TwoDomainTranslator(CycleGAN(config).generators(), "cyclegan", to_dict(config), 16, {})
    folders = {"cyclegan": two_domain.save_pretrained(root / "cyclegan")}
    folders["cyclegan-v1"] = Path(__file__).parent / "fixtures" / "cyclegan-v1"
    return folders


@pytest.mark.parametrize("kind", ["cyclegan", "cyclegan-v1"])
@PROPERTY
@given(data=st.data())
def test_any_edit_of_a_model_config_loads_or_is_refused_clearly(kind, model_folders, tmp_path, data):
    import tempfile

    import ageshift

    folder = Path(tempfile.mkdtemp(dir=tmp_path)) / "model"
    shutil.copytree(model_folders[kind], folder)
    document = json.loads((folder / "config.json").read_text())
    path = data.draw(st.sampled_from(_paths(document)), label="path")
    value = data.draw(JSON_VALUES, label="value")
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    (folder / "config.json").write_text(json.dumps(document))
    try:
        model = ageshift.load(folder)
        output = model.translate_batch(torch.zeros(1, 3, model.image_size, model.image_size), "older")
    except AgeshiftError:
        return
    assert torch.isfinite(output).all()
