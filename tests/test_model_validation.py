"""Malformed model folders of every kind: a ModelLoadError naming the file and the field, never another exception.

Each case mutates one entry of a real (tiny) model folder's ``config.json`` or its weights; the checks are the
one loader's (``pretrained.read_pretrained`` + each kind's schema + each family's config dataclass), so the
cases stand for every family and kind.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import ageshift
from ageshift.config import MAX_IMAGE_SIZE, from_dict, validate_fields
from ageshift.errors import AgeshiftError, ConfigError, ModelLoadError
from ageshift.evaluation.age_regressor import AgeRegressor, AgeRegressorConfig
from ageshift.latent.directions import LatentDirection
from ageshift.models.cyclegan.config import CycleGANConfig, GeneratorConfig
from ageshift.models.translator import NonFiniteOutputError
from ageshift.registry import get_family

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DELETE = object()


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """One tiny model folder per kind (and per translator family), written by the real save code."""
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    cyclegan = get_family("cyclegan")
    config = cyclegan.model_config(
        "fast",
        {
            "generator": {"channels": 4, "num_res_blocks": 1},
            "discriminator": {"channels": 4},
            "image_size": 32,
        },
    )
    metadata = {"crop": {"template": "ffhq", "size": 32, "padding": 0.1}}
    cyclegan.export(cyclegan.build(config), 32, metadata, {}).save_pretrained(root / "cyclegan")
    stargan = get_family("stargan")
    overrides = {
        "generator": {"channels": 4, "num_res_blocks": 1},
        "discriminator": {"channels": 4, "num_layers": 3},
        "image_size": 32,
        "age_range": [0.0, 100.0],
        "attributes": {"hair": ["dark", "blond"]},
    }
    stargan.export(stargan.build(stargan.model_config("fast", overrides)), 32, {}, {}).save_pretrained(
        root / "stargan"
    )
    AgeRegressor(AgeRegressorConfig(image_size=16, channels=(4, 8))).save_pretrained(root / "regressor")
    vector = torch.nn.functional.normalize(torch.randn(8), dim=0)
    LatentDirection(vector=vector, scale=1.0, method="ridge").save_pretrained(root / "direction")
    return {"cyclegan": root / "cyclegan", "stargan": root / "stargan", "regressor": root / "regressor",
            "direction": root / "direction"}  # fmt: skip


LOADERS = {
    "cyclegan": ageshift.load,
    "stargan": ageshift.load,
    "regressor": AgeRegressor.from_pretrained,
    "direction": LatentDirection.from_pretrained,
}


def _set(document: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = document
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value


def mutated(folders: dict[str, Path], tmp_path: Path, kind: str, dotted: str, value: Any) -> Path:
    folder = tmp_path / kind
    shutil.copytree(folders[kind], folder)
    document = json.loads((folder / "config.json").read_text())
    _set(document, dotted, value)
    (folder / "config.json").write_text(json.dumps(document))
    return folder


# (kind, entry, value, text the message must contain after "FOLDER/config.json: ")
CASES = [
    ("cyclegan", "format_version", "2", "format_version must be an integer"),
    ("cyclegan", "kind", 3, "'kind' must be a string"),
    ("cyclegan", "family", [], "'family' must be a string"),
    ("cyclegan", "image_size", DELETE, "image_size: missing"),
    ("cyclegan", "image_size", "64", "image_size: expected an integer"),
    ("cyclegan", "image_size", 0, "image_size must be >= 1"),
    ("cyclegan", "image_size", -32, "image_size must be >= 1"),
    ("cyclegan", "image_size", 10**7, f"image_size must be <= {MAX_IMAGE_SIZE}"),
    ("cyclegan", "image_size", 3.5, "image_size: expected an integer"),
    ("cyclegan", "metadata", [], "metadata: expected an object"),
    ("cyclegan", "metadata", "x", "metadata: expected an object"),
    ("cyclegan", "metadata.crop", "ffhq", "metadata.crop: expected an object"),
    ("cyclegan", "metadata.crop", [1], "metadata.crop: expected an object"),
    ("cyclegan", "metadata.crop", {"template": "ffhq", "size": 10**6}, "metadata.crop: crop size"),
    ("cyclegan", "metadata.crop", {"template": "nope"}, "metadata.crop: unknown alignment template"),
    ("cyclegan", "conditions", [], "conditions: expected an object"),
    ("cyclegan", "networks", "older", "networks: expected a list"),
    ("cyclegan", "networks", [1], "networks[0]: expected a string"),
    ("cyclegan", "config", [], "'config' must be a JSON object"),
    ("cyclegan", "card", "x", "'card' must be a JSON object"),
    ("cyclegan", "config.image_size", 10**7, "config.image_size must be <= 4096"),
    ("cyclegan", "config.generator", [], "config.generator: expected a mapping"),
    ("cyclegan", "config.generator.channels", -4, "config.generator.channels must be >= 1"),
    ("cyclegan", "config.generator.channels", 10**6, "config.generator.channels must be <= 1024"),
    ("cyclegan", "config.generator.channels", "4", "config.generator.channels: expected an integer"),
    ("cyclegan", "config.generator.num_res_blocks", 10**6, "config.generator.num_res_blocks must be <= 64"),
    ("cyclegan", "config.generator.num_downsamples", 10**9, "config.generator.num_downsamples must be <= 6"),
    ("cyclegan", "config.generator.num_downsamples", -1, "config.generator.num_downsamples must be >= 0"),
    ("cyclegan", "config.generator.dropout", -1.0, "config.generator.dropout must be >= 0.0"),
    ("cyclegan", "config.generator.norm", "zzz", "config.generator.norm: 'zzz' is not one of"),
    ("cyclegan", "config.cycle_weight", float("nan"), "config.cycle_weight: expected a finite number"),
    ("cyclegan", "config.generator.chanels", 4, "unknown config key config.generator.chanels"),
    # Within every bound but far too large together: refused before anything is allocated.
    ("cyclegan", "config.generator", {"channels": 1024, "num_res_blocks": 64}, "parameters, more than"),
    ("stargan", "config.discriminator.num_layers", 99, "config.discriminator.num_layers must be <= 10"),
    ("stargan", "config.generator.channels", 0, "config.generator.channels must be >= 1"),
    ("stargan", "config.age_range", [50, 10], "age_range must be [min, max]"),
    ("stargan", "config.age_range", "young", "config.age_range: expected a list"),
    ("stargan", "config.attributes", {"hair": "blond"}, "config.attributes.hair: expected a list"),
    ("stargan", "config.critic_steps", 0, "config.critic_steps must be >= 1"),
    ("regressor", "config.image_size", 0, "config.image_size must be >= 8"),
    ("regressor", "config.image_size", 10**7, "config.image_size must be <= 4096"),
    ("regressor", "config.channels", [-1, 4], "config.channels[0] must be >= 1"),
    ("regressor", "config.channels", [], "config.channels must list 1 to 12"),
    ("regressor", "config.channels", "ab", "config.channels: expected a list"),
    ("direction", "config.scale", "1", "'scale' must be a positive number"),
    ("direction", "config.scale", float("nan"), "'scale' must be a positive number"),
    ("direction", "config.latent_dim", "8", "config.latent_dim is '8'"),
    ("direction", "config.method", 5, "config.method must be a string"),
    ("direction", "fit_stats", [1, 2], "fit_stats: expected an object"),
    ("direction", "measured", {"units_per_strength": "x"}, "measured.units_per_strength must be a number"),
]


@pytest.mark.parametrize(
    ("kind", "entry", "value", "expected"), CASES, ids=[f"{c[0]}-{c[1]}={c[2]!r}"[:60] for c in CASES]
)
def test_malformed_config_names_the_file_and_the_field(
    folders, tmp_path, kind, entry, value, expected
) -> None:
    folder = mutated(folders, tmp_path, kind, entry, value)
    with pytest.raises(ModelLoadError) as error:
        LOADERS[kind](folder)
    message = str(error.value)
    assert message.startswith(f"{folder / 'config.json'}: "), message
    assert expected in message and "\n" not in message, message


@pytest.mark.parametrize("kind", list(LOADERS))
def test_every_kind_still_loads_unchanged(folders, kind) -> None:
    assert LOADERS[kind](folders[kind]) is not None


def _drop(tensors: dict) -> None:
    tensors.pop(sorted(tensors)[0])


def _extra(tensors: dict) -> None:
    tensors[f"{sorted(tensors)[0].split('.')[0]}.extra"] = torch.zeros(1)


def _reshape(tensors: dict) -> None:
    name = sorted(tensors)[0]
    tensors[name] = torch.zeros(7, 7)


def _nan(tensors: dict) -> None:
    name = next(key for key in sorted(tensors) if tensors[key].is_floating_point())
    tensors[name] = torch.full_like(tensors[name], float("nan"))


WEIGHT_CASES = {
    "missing key": (_drop, "do not "),
    "unexpected key": (_extra, "do not "),
    "wrong shape": (_reshape, "do not "),
    "NaN weights": (_nan, "holds NaN or infinite values"),
}


# A direction holds one vector, whose length is checked against config.latent_dim: only NaN applies to it.
WEIGHT_KINDS = [
    (kind, case) for kind in LOADERS for case in WEIGHT_CASES if kind != "direction" or case == "NaN weights"
]


@pytest.mark.parametrize(("kind", "case"), WEIGHT_KINDS)
def test_weights_that_do_not_fit_are_a_model_load_error(folders, tmp_path, kind, case) -> None:
    change, expected = WEIGHT_CASES[case]
    folder = tmp_path / kind
    shutil.copytree(folders[kind], folder)
    tensors = load_file(folder / "model.safetensors")
    change(tensors)
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(ModelLoadError, match=expected) as error:
        LOADERS[kind](folder)
    assert str(folder) in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "expected a JSON object, got list"),
        (b'"x"', "expected a JSON object, got str"),
        (b"[" * 100000, "not valid JSON"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    ],
)
def test_config_json_that_is_not_a_json_object(folders, tmp_path, content, expected) -> None:
    folder = tmp_path / "model"
    shutil.copytree(folders["cyclegan"], folder)
    (folder / "config.json").write_bytes(content)
    with pytest.raises(ModelLoadError, match=expected):
        ageshift.load(folder)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:200],
        lambda data: data[: len(data) // 2],
        lambda data: b"\0garbage" * 10,
        lambda data: (10**12).to_bytes(8, "little") + b"{}",
        lambda data: b"",
    ],  # fmt: skip
)
def test_truncated_or_garbage_safetensors(folders, tmp_path, damage) -> None:
    folder = tmp_path / "model"
    shutil.copytree(folders["cyclegan"], folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(ModelLoadError, match="model.safetensors: corrupt weights file"):
        ageshift.load(folder)


def test_random_mutations_never_escape_as_another_exception(folders, tmp_path) -> None:
    """Replace one random entry of the config with a random value, many times: a model or an AgeshiftError."""
    rng = np.random.default_rng(0)
    base = json.loads((folders["cyclegan"] / "config.json").read_text())
    paths: list[list[str]] = []

    def walk(node: Any, prefix: list[str]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                paths.append([*prefix, key])
                walk(value, [*prefix, key])

    walk(base, [])
    values = [None, True, -1, 0, 2**40, -1e308, 0.5, "", "x", [], [1, "a"], {}, {"a": 1}]
    folder = tmp_path / "model"
    shutil.copytree(folders["cyclegan"], folder)
    for _ in range(80):
        document = copy.deepcopy(base)
        _set(document, ".".join(paths[int(rng.integers(len(paths)))]), values[int(rng.integers(len(values)))])
        (folder / "config.json").write_text(json.dumps(document))
        try:
            ageshift.load(folder).translate_batch(torch.zeros(1, 3, 16, 16), "older")
        except AgeshiftError as error:
            assert "\n" not in str(error)


def test_non_finite_outputs_are_refused_naming_the_model(folders, monkeypatch) -> None:
    translator = ageshift.load(folders["cyclegan"])
    monkeypatch.setattr(type(translator), "run", lambda self, images, condition: images * float("nan"))
    with pytest.raises(NonFiniteOutputError, match=f"model {folders['cyclegan']} produced NaN or infinite"):
        translator.translate_batch(torch.zeros(1, 3, 32, 32), "older")
    monkeypatch.setattr(type(translator), "run", lambda self, images, condition: images + float("inf"))
    with pytest.raises(NonFiniteOutputError):  # clamping would otherwise turn +inf into a white image
        translator.translate(torch.zeros(3, 32, 32), "older")


def test_validate_fields_holds_directly_built_configs_to_the_same_rules() -> None:
    with pytest.raises(ConfigError, match="model.image_size must be >= 1"):
        CycleGANConfig(image_size=-1)
    with pytest.raises(ConfigError, match=r"model.generator.channels must be >= 1"):
        CycleGANConfig(generator=GeneratorConfig(channels=0))
    validate_fields(CycleGANConfig())
    with pytest.raises(ConfigError, match="expected 2 values, got 3"):
        from_dict(_Pair, {"pair": [0.1, 0.2, 0.3]})
    with pytest.raises(ConfigError, match="expected a finite number"):
        from_dict(_Pair, {"pair": [0.1, float("inf")]})
    with pytest.raises(ConfigError, match="pair: missing"):
        from_dict(_Required, {})


@dataclass
class _Pair:
    pair: tuple[float, float] = (0.0, 1.0)


@dataclass
class _Required:
    pair: tuple[float, float]
