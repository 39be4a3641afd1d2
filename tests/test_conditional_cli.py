"""The condition-aware commands on a tiny conditional (StarGAN) model and a tiny two-domain one: `age`,
`age-sweep`, `translate`, `info`, `models`, and `train --family stargan` → `export` → a bit-identical resume.

Untrained 32² networks: these tests check the plumbing (conditions reach the model, files are written, every
bad request is one named line with exit code 2), not the quality of the edit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import random_image, run_cli

import ageshift
from ageshift.config import to_dict
from ageshift.models.cyclegan import CycleGAN, cyclegan_config
from ageshift.models.stargan import StarGANFamily
from ageshift.models.translator import TwoDomainTranslator
from ageshift.training import TrainingInterrupted, list_checkpoints, load_checkpoint, train
from ageshift.training.config import train_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")

skimage_data = pytest.importorskip("skimage.data")

SIZE = 32
HAIR = ["black", "blond", "brown"]
ACCEPTS = "--target-age 15..80; --attribute glasses=none|glasses; --attribute hair=black|blond|brown"
#: ``--set`` overrides that make a StarGAN of a few thousand parameters (a step takes milliseconds).
TINY_STARGAN = [
    "model.generator.channels=4",
    "model.generator.num_res_blocks=1",
    "model.discriminator.channels=4",
    "model.discriminator.num_layers=3",
    "model.image_size=32",
]


run = run_cli


def one_error_line(err: str) -> str:
    """The single ``error: …`` line of a refused command (no traceback, no second line)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def stargan_dir(tmp_path_factory) -> Path:
    config = StarGANFamily.model_config(
        "fast",
        {
            "generator": {"channels": 4, "num_res_blocks": 1},
            "discriminator": {"channels": 4, "num_layers": 3},
            "image_size": SIZE,
            "age_range": [15, 80],
            "attributes": {"hair": HAIR, "glasses": ["none", "glasses"]},
        },
    )
    torch.manual_seed(0)
    model = StarGANFamily.build(config).eval()
    card = {"family": "stargan", "summary": StarGANFamily.summary, "training_data": {"name": "toy"}}
    translator = StarGANFamily.export(model, SIZE, {"crop": None}, card)
    return translator.save_pretrained(tmp_path_factory.mktemp("models") / "stargan")


@pytest.fixture(scope="module")
def cyclegan_dir(tmp_path_factory) -> Path:
    config = cyclegan_config("fast", {"generator": {"channels": 4, "num_res_blocks": 1}, "image_size": SIZE})
    torch.manual_seed(0)
    translator = TwoDomainTranslator(
        CycleGAN(config).generators(), "cyclegan", to_dict(config), SIZE, {"name": "tiny"}
    )
    return translator.save_pretrained(tmp_path_factory.mktemp("models") / "cyclegan")


@pytest.fixture(scope="module")
def face_photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).resize((256, 256), Image.Resampling.LANCZOS).save(path)
    return path


@pytest.fixture(scope="module")
def cat_photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    Image.fromarray(skimage_data.chelsea()).save(path)
    return path


# --- age ------------------------------------------------------------------------------------------------


def test_age_target_age_and_attribute(tmp_path, stargan_dir, face_photo, capsys):
    out, report = tmp_path / "out", tmp_path / "faces.json"
    code, stdout, err = run(
        ["age", face_photo, "-m", stargan_dir, "--target-age", "70", "--attribute", "hair=blond",
         "--strength", "0.8", "--out", out, "--report", report, "--save-crops", tmp_path / "crops"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    with Image.open(out / "astronaut.png") as written, Image.open(face_photo) as original:
        assert written.size == original.size
        assert not np.array_equal(np.asarray(written), np.asarray(original))
    data = json.loads(report.read_text())
    assert data["condition"] == {
        "direction": None,
        "target_age": 70.0,
        "attributes": {"hair": "blond"},
        "strength": 0.8,
    }
    assert len(data["photos"]) == 1 and len(data["photos"][0]["faces"]) == 1
    # The table's title names the condition (rich may wrap it at the table's width).
    assert "ageshift age: age 70, hair=blond, strength 0.8" in " ".join(stdout.split())
    assert list((tmp_path / "crops").glob("*_age70_hair-blond_strength0.8.png"))


@pytest.mark.parametrize(
    ("model", "options", "expected"),
    [
        ("stargan", ["--direction", "older"], ["not a direction", ACCEPTS]),
        ("cyclegan", ["--target-age", "70"], ["no target age", "--direction older or younger"]),
        ("cyclegan", ["-d", "older", "--attribute", "hair=blond"], ["--direction older or younger"]),
        ("stargan", ["--target-age", "95"], ["target age 95 is outside this model's range 15..80"]),
        ("stargan", ["--target-age", "70", "--attribute", "beard=beard"], ["'beard'", "glasses, hair"]),
        ("stargan", ["--attribute", "hair=green"], ["hair='green'", "black, blond, brown"]),
        ("stargan", ["--attribute", "hair"], ["--attribute 'hair'", "NAME=VALUE"]),
        ("stargan", ["--target-age", "70", "--strength", "2"], ["strength must be between 0 and 1"]),
        ("stargan", [], ["say what to change", ACCEPTS]),
    ],
    ids=["direction", "age-on-cyclegan", "attribute-on-cyclegan", "age-range", "unknown-attribute",
         "unknown-value", "malformed", "strength", "nothing"],
)  # fmt: skip
def test_age_refuses_a_condition_the_model_does_not_take(
    tmp_path, stargan_dir, cyclegan_dir, face_photo, capsys, model, options, expected
):
    folder = {"stargan": stargan_dir, "cyclegan": cyclegan_dir}[model]
    out = tmp_path / "out"
    code, _, err = run(["age", face_photo, "-m", folder, *options, "--out", out], capsys)
    assert code == 2
    line = one_error_line(err)
    for text in expected:
        assert text in line, (text, line)
    assert not out.exists()


# --- age-sweep ------------------------------------------------------------------------------------------


def test_sweep_png_strip_has_one_tile_per_age(tmp_path, stargan_dir, face_photo, capsys):
    strip = tmp_path / "strip.png"
    code, _, err = run(
        ["age-sweep", face_photo, "-m", stargan_dir, "--ages", "20-80:20", "--attribute", "hair=brown",
         "--frame-size", 48, "--out", strip],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "wrote 4 frames" in err and "age 20, age 40, age 60, age 80" in err
    with Image.open(strip) as written:
        # Four square 48² frames (plus a caption band underneath), 4 px apart.
        assert written.width == 4 * 48 + 3 * 4 and written.height > 48


def test_sweep_gif_and_mp4_have_one_frame_per_age(tmp_path, stargan_dir, face_photo, capsys):
    gif = tmp_path / "strip.gif"
    code, _, err = run(
        ["age-sweep", face_photo, "-m", stargan_dir, "--ages", "20,50,80", "--frame-size", 32, "--out", gif],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    with Image.open(gif) as animation:
        assert animation.n_frames == 3 and animation.width == 32
    pytest.importorskip("imageio_ffmpeg")
    mp4 = tmp_path / "strip.mp4"
    code, _, err = run(
        ["age-sweep", face_photo, "-m", stargan_dir, "--ages", "20,80", "--frame-size", 32, "--out", mp4],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert mp4.stat().st_size > 0 and mp4.read_bytes()[4:8] == b"ftyp"


def test_sweep_strengths_on_a_two_domain_model(tmp_path, cyclegan_dir, face_photo, capsys):
    strip = tmp_path / "strip.png"
    code, _, err = run(
        ["age-sweep", face_photo, "-m", cyclegan_dir, "--strengths", "0,0.5,1", "-d", "older",
         "--frame-size", 32, "--out", strip],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "older 0.00, older 0.50, older 1.00" in err
    with Image.open(strip) as written:
        assert written.width == 3 * 32 + 2 * 4


def test_sweep_strengths_on_a_conditional_model_with_a_target_age(tmp_path, stargan_dir, face_photo, capsys):
    strip = tmp_path / "strip.png"
    code, _, err = run(
        ["age-sweep", face_photo, "-m", stargan_dir, "--strengths", "0,1", "--target-age", 70,
         "--frame-size", 32, "--out", strip],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "wrote 2 frames" in err and "age 70 0.00, age 70 1.00" in err and strip.is_file()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--ages", "20,40", "-d", "older"], ["takes no target age", "--direction older or younger"]),
        ([], ["takes no target age", "--strengths"]),
        (["--strengths", "0,1"], ["choose a direction", "older or younger"]),
    ],
    ids=["ages", "nothing", "no-direction"],
)
def test_sweep_ages_on_a_two_domain_model_are_refused(
    tmp_path, cyclegan_dir, face_photo, capsys, options, expected
):
    out = tmp_path / "strip.png"
    code, _, err = run(["age-sweep", face_photo, "-m", cyclegan_dir, *options, "--out", out], capsys)
    assert code == 2
    line = one_error_line(err)
    for text in expected:
        assert text in line, (text, line)
    assert not out.exists()


@pytest.mark.parametrize(
    ("ages", "expected"),
    [
        ("20,old", "--ages '20,old': expected numbers"),
        ("80-20:10", "--ages '80-20:10': expected numbers"),
        ("20-80:0", "--ages '20-80:0': expected numbers"),
        ("20-80", "--ages '20-80': expected numbers"),
        ("20-inf:10", "--ages '20-inf:10'"),
        ("15-80:0.0001", "--ages '15-80:0.0001'"),
        (",", "--ages ',': no values"),
        ("20,95", "target age 95 is outside this model's range 15..80"),
    ],
)
def test_sweep_bad_ages_are_refused(tmp_path, stargan_dir, face_photo, capsys, ages, expected):
    out = tmp_path / "strip.png"
    code, _, err = run(["age-sweep", face_photo, "-m", stargan_dir, "--ages", ages, "--out", out], capsys)
    assert code == 2
    assert expected in one_error_line(err)
    assert not out.exists()


def test_sweep_other_refusals(tmp_path, stargan_dir, face_photo, capsys):
    photo = tmp_path / "me.png"
    photo.write_bytes(face_photo.read_bytes())
    before = photo.read_bytes()
    for options, expected in (
        (["--out", photo], "--out is an input file"),
        (["--out", tmp_path / "strip.webp"], "write the sweep as one of .png"),
        (
            ["--out", tmp_path / "s.png", "--strengths", "0,1"],
            f"say what to change: this model accepts {ACCEPTS}",
        ),
        (["--out", tmp_path / "s.png", "--target-age", "70"], "--target-age is for a --strengths sweep"),
        (["--out", tmp_path / "s.png", "--strengths", "0,1", "--ages", "20"], "not both"),
        (["--out", tmp_path / "s.png", "--attribute", "hair=green"], "black, blond, brown"),
    ):
        command = ["age-sweep", photo, "-m", stargan_dir, "--ages", "20,40", *options]
        if "--strengths" in options:
            command = ["age-sweep", photo, "-m", stargan_dir, *options]
        code, _, err = run(command, capsys)
        assert code == 2, options
        assert expected in one_error_line(err), options
    assert photo.read_bytes() == before
    assert not (tmp_path / "s.png").exists()


def test_sweep_whole_image_of_a_cat(tmp_path, stargan_dir, cat_photo, capsys, caplog):
    strip = tmp_path / "cat.png"
    code, _, err = run(
        ["age-sweep", cat_photo, "-m", stargan_dir, "--ages", "20,60", "--whole-image", "--frame-size", 64,
         "--out", strip],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    with Image.open(strip) as written:
        # The whole 451×300 picture in each frame, not a square around a "face".
        frame_height = round(300 * 64 / 451)
        assert written.width == 2 * 64 + 4 and written.height > frame_height
    pytest.importorskip("imageio_ffmpeg")
    # Odd frame sides (65 × 43 + caption) are padded for H.264, not rescaled with a warning from imageio.
    code, _, err = run(
        ["age-sweep", cat_photo, "-m", stargan_dir, "--ages", "20,60", "--whole-image", "--frame-size", 65,
         "--out", tmp_path / "cat.mp4"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "macro_block_size" not in caplog.text and (tmp_path / "cat.mp4").stat().st_size > 0


def test_sweep_measure_cue_captions_frames(tmp_path, stargan_dir, face_photo, capsys):
    strip = tmp_path / "strip.png"
    code, _, err = run(
        ["age-sweep", face_photo, "-m", stargan_dir, "--ages", "20,80", "--measure", "cue", "--frame-size", 32,
         "--out", strip],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "age 20 (measured " in err and "age 80 (measured " in err


# --- translate, info, models ----------------------------------------------------------------------------


def test_translate_folder_with_a_target_age(tmp_path, stargan_dir, capsys, rng):
    source = tmp_path / "faces"
    (source / "sub").mkdir(parents=True)
    pictures = {"a.png": random_image(rng, (SIZE, SIZE)), "sub/b.png": random_image(rng, (40, 30))}
    for name, picture in pictures.items():
        picture.save(source / name)
    out = tmp_path / "out"
    code, _, err = run(
        ["translate", stargan_dir, source, out, "--target-age", "60", "--attribute", "glasses=glasses",
         "--device", "cpu"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "wrote 2 image(s)" in err
    model = ageshift.load(stargan_dir)
    for name, picture in pictures.items():
        expected = model.translate(picture, target_age=60, attributes={"glasses": "glasses"})
        with Image.open(out / name) as written:
            assert np.array_equal(np.asarray(written), np.asarray(expected)), name
    code, _, err = run(["translate", stargan_dir, source, tmp_path / "bad", "-a", "10"], capsys)
    assert code == 2 and "outside this model's range 15..80" in one_error_line(err)
    assert not (tmp_path / "bad").exists()


def test_info_of_a_conditional_and_a_two_domain_model(stargan_dir, cyclegan_dir, capsys):
    code, out, _ = run(["info", stargan_dir], capsys)
    assert code == 0
    assert f"stargan, {SIZE}²" in out and StarGANFamily.summary in out
    assert "target_age: 15..80" in out
    assert "attributes.hair: one of black, blond, brown" in out
    assert "attributes.glasses: one of none, glasses" in out
    assert "strength: 0..1" in out and "trained on: toy" in out
    code, out, _ = run(["info", stargan_dir, "--json"], capsys)
    assert code == 0
    described = json.loads(out)
    by_name = {entry["name"]: entry for entry in described["conditions"]}
    assert described["family"] == "stargan" and described["image_size"] == SIZE
    assert by_name["target_age"]["min"] == 15 and by_name["target_age"]["max"] == 80
    assert by_name["attributes.hair"]["choices"] == HAIR and "direction" not in by_name

    code, out, _ = run(["info", cyclegan_dir], capsys)
    assert code == 0
    assert f"cyclegan, {SIZE}²" in out and "direction: one of older, younger" in out
    assert "target_age" not in out
    code, out, _ = run(["info", cyclegan_dir, "--json"], capsys)
    described = json.loads(out)
    assert code == 0 and described["family"] == "cyclegan"
    assert [entry["name"] for entry in described["conditions"]] == ["direction", "strength"]

    code, out, _ = run(["models"], capsys)
    assert code == 0 and f"stargan: {StarGANFamily.summary} [data: labelled; presets: fast, paper]" in out


# --- train → export; resume ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def labelled_data(tmp_path_factory) -> Path:
    from ageshift.data.synthetic import make_synthetic_dataset

    folder = tmp_path_factory.mktemp("data") / "synthetic"
    make_synthetic_dataset(folder, 10, size=SIZE, all_ages=True, seed=3)
    return folder


def test_cli_train_stargan_then_export_age_and_info(tmp_path, labelled_data, face_photo, capsys, monkeypatch):
    monkeypatch.setattr("ageshift.training.rundir._open_tensorboard", lambda folder: None)
    runs, model = tmp_path / "runs", tmp_path / "model"
    overrides = [*TINY_STARGAN, "stages=[{size: 32, batch_size: 2, steps: 2}]", "model.use_attributes=[hair]"]
    command = ["train", "--family", "stargan", "--data", labelled_data, "--out", runs, "--quiet"]
    code, _, err = run([*command, *[part for item in overrides for part in ("--set", item)]], capsys)
    assert code == 0, err
    run_dir = next(runs.iterdir())
    assert run_dir.name == "001-stargan-fast" and "run folder" in err
    code, _, err = run(["export", run_dir, "--out", model], capsys)
    assert code == 0 and "step 2" in err, err

    document = json.loads((model / "config.json").read_text())
    assert document["family"] == "stargan"
    assert document["conditions"] == {"age": {"min": 15.0, "max": 80.0}, "attributes": {"hair": HAIR}}
    code, out, _ = run(["info", model], capsys)
    assert code == 0 and "target_age: 15..80" in out and "attributes.hair: one of black, blond, brown" in out
    assert "attributes.glasses" not in out and "trained on: synthetic" in out
    code, _, err = run(
        ["age", face_photo, "-m", model, "-a", "30", "--attribute", "hair=black", "--out", tmp_path / "aged"],
        capsys,
    )
    assert code == 0, err
    assert (tmp_path / "aged" / "astronaut.png").is_file()


def assert_same(first: Any, second: Any, where: str = "") -> None:
    """Nested dicts/lists of tensors and plain values are equal, tensors bit for bit."""
    if isinstance(first, torch.Tensor):
        assert isinstance(second, torch.Tensor) and torch.equal(first, second), where
    elif isinstance(first, dict):
        assert set(first) == set(second), where
        for key in first:
            assert_same(first[key], second[key], f"{where}.{key}")
    elif isinstance(first, list | tuple):
        assert len(first) == len(second), where
        for index, (a, b) in enumerate(zip(first, second, strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    else:
        assert first == second, where


def test_stargan_resume_is_bit_identical(tmp_path, labelled_data):
    # WGAN-GP with two critic steps: the stop after step 3 falls between generator updates, and the resumed
    # run must replay the trainer's random draws (target labels, gradient-penalty mixing, data order).
    config = train_config(
        "fast",
        overrides=[*TINY_STARGAN, "stages=[{size: 32, batch_size: 2, steps: 5}]", "model.gan_loss=wgan-gp",
                   "model.critic_steps=2", "model.identity_weight=1", "sample_every=100"],
        family="stargan",
    )  # fmt: skip
    options = {"quiet": True, "tensorboard": False, "handle_signals": False}
    straight = train(config, labelled_data, tmp_path / "straight", **options)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(config, labelled_data, tmp_path / "split", should_stop=lambda step: step == 3, **options)
    assert stopped.value.step == 3
    resumed = train(runs_dir=tmp_path / "split", resume=True, **options)
    expected = load_checkpoint(list_checkpoints(straight)[-1])
    found = load_checkpoint(list_checkpoints(resumed)[-1])
    assert found["step"] == expected["step"] == 5 and found["family"] == "stargan"
    for part in ("model", "optimizers", "schedulers", "family_state", "model_config"):
        assert_same(expected[part], found[part], part)
    # Generator updates on steps 1, 3 and 5 only; the discriminator on every step.
    assert int(found["optimizers"]["generator"]["state"][0]["step"]) == 3
    assert int(found["optimizers"]["discriminator"]["state"][0]["step"]) == 5
