"""`ageshift translate`, `ageshift import-cyclegan` and the Python translate API on tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import random_image

import ageshift
from ageshift.cli import main
from ageshift.config import to_dict
from ageshift.errors import AgeshiftError
from ageshift.image import pil_to_tensor, tensor_to_pil
from ageshift.models.cyclegan import CycleGAN, cyclegan_config
from ageshift.models.translator import TwoDomainTranslator

MODEL_SIZE = 16


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> tuple[TwoDomainTranslator, Path]:
    config = cyclegan_config(
        "fast", {"generator": {"channels": 4, "num_res_blocks": 1}, "image_size": MODEL_SIZE}
    )
    torch.manual_seed(0)
    generators = CycleGAN(config).generators()
    translator = TwoDomainTranslator(generators, "cyclegan", to_dict(config), MODEL_SIZE, {"name": "tiny"})
    folder = translator.save_pretrained(tmp_path_factory.mktemp("model") / "tiny")
    return translator, folder


@pytest.fixture
def tiny_model(saved_model) -> TwoDomainTranslator:
    return saved_model[0]


@pytest.fixture
def model_dir(saved_model) -> Path:
    return saved_model[1]


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


def test_translate_folder_keeps_layout_and_skips_bad_files(tmp_path, model_dir, capsys, rng):
    source = tmp_path / "faces"
    (source / "group" / "deep").mkdir(parents=True)
    random_image(rng, (MODEL_SIZE, MODEL_SIZE)).save(source / "a.png")
    random_image(rng, (40, 30)).save(source / "group" / "b.jpg")
    random_image(rng, (24, 24)).save(source / "group" / "deep" / "c.webp")
    (source / "group" / "broken.png").write_bytes(b"not an image")
    before = {path: path.read_bytes() for path in source.rglob("*") if path.is_file()}

    code, output = run_cli(
        ["translate", model_dir, source, tmp_path / "out", "--direction", "older", "--batch-size", "2"],
        capsys,
    )

    assert code == 1, output  # finished, but one input was skipped (README, "Exit codes")
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*"))
    assert written == ["a.png", "group/b.png", "group/deep/c.png"]
    assert Image.open(tmp_path / "out" / "group" / "b.png").size == (40, 30)
    assert "broken.png" in output and "skipped 1" in output
    assert before == {path: path.read_bytes() for path in source.rglob("*") if path.is_file()}


def test_image_at_model_size_is_not_resized(tmp_path, tiny_model, model_dir, capsys, rng):
    image = random_image(rng, (MODEL_SIZE, MODEL_SIZE))
    image.save(tmp_path / "face.png")

    code, output = run_cli(
        ["translate", model_dir, tmp_path / "face.png", tmp_path / "old.png", "-d", "younger"], capsys
    )

    assert code == 0, output
    with torch.inference_mode():
        expected = tiny_model.generators["younger"](pil_to_tensor(image)[None]).clamp(-1, 1)[0]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "old.png")), np.asarray(tensor_to_pil(expected)))


def test_file_output_format_follows_suffix_and_folder_format_option(tmp_path, model_dir, capsys, rng):
    random_image(rng, (20, 20)).save(tmp_path / "in.png")
    assert (
        run_cli(["translate", model_dir, tmp_path / "in.png", tmp_path / "x.jpg", "-d", "older"], capsys)[0]
        == 0
    )
    assert Image.open(tmp_path / "x.jpg").format == "JPEG"
    folder = tmp_path / "folder"
    folder.mkdir()
    random_image(rng, (20, 20)).save(folder / "one.png")
    args = ["translate", model_dir, folder, tmp_path / "jpgs", "-d", "older", "--format", "jpg"]
    assert run_cli(args, capsys)[0] == 0
    assert Image.open(tmp_path / "jpgs" / "one.jpg").format == "JPEG"


def test_identity_model_returns_the_input(tmp_path, capsys, rng):
    image = random_image(rng, (21, 13))
    image.save(tmp_path / "in.png")
    code, output = run_cli(
        ["translate", "identity", tmp_path / "in.png", tmp_path / "same.png", "-d", "older"], capsys
    )
    assert code == 0, output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "same.png")), np.asarray(image))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("same", "output is the input"),
        ("all_bad", "no image could be translated"),
        ("direction", "unknown direction 'sideways'"),
        ("empty", "no images found"),
        ("format", "--format 'gif'"),
    ],
)
def test_translate_errors_exit_2_with_one_line(tmp_path, model_dir, capsys, rng, case, message):
    folder = tmp_path / "in"
    folder.mkdir()
    if case != "empty":
        (folder / "bad.png").write_bytes(b"garbage")
    if case in ("same", "direction", "format"):
        random_image(rng).save(folder / "good.png")
    output = folder if case == "same" else tmp_path / "out"
    direction = "sideways" if case == "direction" else "older"
    extra = ["--format", "gif"] if case == "format" else []

    code, text = run_cli(["translate", model_dir, folder, output, "-d", direction, *extra], capsys)

    assert code == 2
    assert message in text and "Traceback" not in text
    assert not (tmp_path / "out").exists() or case == "all_bad"


def test_import_cyclegan_cli_writes_one_direction_model(tmp_path, capsys):
    from tests.test_reference_import import ReferenceGenerator

    reference = ReferenceGenerator(8, 1).eval()
    torch.save(reference.state_dict(), tmp_path / "latest_net_G_A.pth")

    args = ["import-cyclegan", tmp_path / "latest_net_G_A.pth", "--out", tmp_path / "m", "--image-size", "32"]
    code, output = run_cli(args, capsys)

    assert code == 0, output
    model = ageshift.load(str(tmp_path / "m"))
    assert model.directions == ("older",) and model.image_size == 32
    code, output = run_cli(args, capsys)
    assert code == 2 and "already exists" in output
    code, output = run_cli(["import-cyclegan", tmp_path / "missing.pth", "--out", tmp_path / "n"], capsys)
    assert code == 2 and "missing.pth" in output


def test_python_api_pil_lists_tensors_and_errors(tiny_model, rng):
    single = random_image(rng, (MODEL_SIZE, MODEL_SIZE))
    result = tiny_model.translate(single, direction="older")
    assert isinstance(result, Image.Image) and result.size == single.size

    mixed = [
        random_image(rng, (20, 12)),
        random_image(rng, (MODEL_SIZE, MODEL_SIZE)),
        random_image(rng, (20, 12)),
    ]
    results = tiny_model.translate(mixed, direction="younger", batch_size=1)
    assert [image.size for image in results] == [(20, 12), (MODEL_SIZE, MODEL_SIZE), (20, 12)]
    alone = tiny_model.translate(mixed[2], direction="younger")
    assert np.array_equal(np.asarray(results[2]), np.asarray(alone))  # batching does not change results

    batch = torch.rand(3, 3, 24, 24) * 2 - 1
    out = tiny_model.translate(batch, direction="older")
    assert out.shape == batch.shape and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1
    torch.testing.assert_close(tiny_model.translate(batch[1], direction="older"), out[1], atol=1e-5, rtol=0)

    with pytest.raises(AgeshiftError, match="unknown direction 'sideways'.*older or younger"):
        tiny_model.translate(single, direction="sideways")
    with pytest.raises(AgeshiftError, match=r"images\[1\]"):
        tiny_model.translate([single, "face.png"], direction="older")


def test_fast_inference_equals_eager_and_follows_weight_changes(tiny_model):
    images = torch.rand(3, 3, MODEL_SIZE, MODEL_SIZE, generator=torch.Generator().manual_seed(3)) * 2 - 1
    generator = tiny_model.generators["older"]
    fast = TwoDomainTranslator({"older": generator}, "cyclegan", tiny_model.model_config, MODEL_SIZE)
    slow = TwoDomainTranslator(
        {"older": generator}, "cyclegan", tiny_model.model_config, MODEL_SIZE, fast_inference=False
    )

    assert fast._runner("older", 3) is generator  # short jobs skip the cost of building a trace
    fast.FAST_INFERENCE_AFTER_IMAGES = 0
    assert fast._runner("older") is not generator  # the frozen trace is in use
    torch.testing.assert_close(fast.translate(images), slow.translate(images), atol=1e-6, rtol=0)

    original = {key: value.clone() for key, value in generator.state_dict().items()}
    try:
        with torch.no_grad():
            generator.head[1].bias.add_(0.5)  # as an optimizer step would, in place
        torch.testing.assert_close(fast.translate(images), slow.translate(images), atol=1e-6, rtol=0)
    finally:
        generator.load_state_dict(original)
