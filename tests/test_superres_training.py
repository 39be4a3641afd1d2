"""Training a super-resolution model with the shared trainer: degradations, validation metrics, export, load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ageshift.models.superres.config import DegradationConfig, SuperResConfig
from ageshift.models.superres.data import degrade


@pytest.fixture
def photos(tmp_path):
    data = pytest.importorskip("skimage.data")
    folder = tmp_path / "photos"
    folder.mkdir()
    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    for index, picture in enumerate(sources):
        for row in range(3):
            crop = picture[row * 96 : row * 96 + 96, 100:196]
            Image.fromarray(np.ascontiguousarray(crop)).save(folder / f"{index}-{row}.png")
    return folder


def test_degrade_shapes_and_determinism():
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    config = DegradationConfig(blur_probability=1, noise_probability=1, jpeg_probability=1)
    first = degrade(images, 4, config, torch.Generator().manual_seed(3))
    again = degrade(images, 4, config, torch.Generator().manual_seed(3))
    assert first.shape == (2, 3, 8, 8)
    assert torch.equal(first, again)
    assert first.min() >= -1 and first.max() <= 1
    plain = degrade(images, 4, None)
    expected = torch.nn.functional.interpolate(images, scale_factor=0.25, mode="bicubic", antialias=True)
    torch.testing.assert_close(plain, expected.clamp(-1, 1))


def test_training_lowers_l1_on_a_held_out_crop(photos, tmp_path):
    from ageshift.models.superres.data import PhotoCrops
    from ageshift.models.translator import load
    from ageshift.registry import get_family
    from ageshift.training import train, train_config
    from ageshift.training.export import export_run

    overrides = {
        "model_preset": "tiny",
        "model": {"degradation": {"blur_probability": 0, "noise_probability": 0, "jpeg_probability": 0}},
        "stages": [{"size": 32, "batch_size": 4, "steps": 30}],
        "learning_rate": 1e-3,
        "sample_every": 30,
        "checkpoint_every": 30,
        "log_every": 10,
        "device": "cpu",
    }
    config = train_config("fast", overrides=overrides, family="superres")
    torch.manual_seed(0)
    fresh = get_family("superres").build(config.model_config()).generator.eval()
    run = train(config, photos, tmp_path / "runs", quiet=True, tensorboard=False)
    export_run(run, tmp_path / "model")
    model = load(tmp_path / "model")
    held_out = PhotoCrops(photos, 32, 0, config, False).samples(4)["images"]
    low = degrade(held_out, 4, None)
    with torch.no_grad():
        before = (fresh(low).clamp(-1, 1) - held_out).abs().mean().item()
    after = (model.translate(low) - held_out).abs().mean().item()
    assert model.translate(low).shape == held_out.shape
    print(f"held-out L1 before {before:.4f}, after {after:.4f}")
    assert after < before * 0.85, (before, after)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("val_psnr" in row and "val_ssim" in row for row in rows)
    card = json.loads((tmp_path / "model" / "config.json").read_text())
    assert card["family"] == "superres" and card["kind"] == "translator"


def test_srgan_phase_runs_with_a_vgg19_file(tmp_path):
    from ageshift.models.family import StepContext

    # A VGG19 file in torchvision's layout, with random weights (real ones cannot ship offline).
    from ageshift.models.superres import perceptual
    from ageshift.models.superres.model import SuperResTraining

    layers = []
    channels = 3
    for item in perceptual.VGG19_LAYOUT:
        if item == "M":
            layers.append(torch.nn.MaxPool2d(2))
        else:
            layers += [torch.nn.Conv2d(channels, int(item), 3, padding=1), torch.nn.ReLU()]
            channels = int(item)
    weights = tmp_path / "vgg19.pth"
    state = {f"features.{key}": value for key, value in torch.nn.Sequential(*layers).state_dict().items()}
    torch.save(state, weights)
    config = SuperResConfig(
        channels=8,
        num_blocks=1,
        image_size=32,
        perceptual=str(weights),
        perceptual_weight=1.0,
        adversarial_weight=1e-3,
    )
    model = SuperResTraining(config)
    context = StepContext(
        torch.device("cpu"), lambda: torch.autocast("cpu", enabled=False), torch.Generator()
    )
    batch = {"images": torch.rand(2, 3, 32, 32) * 2 - 1}
    phases = model.phases()
    assert [p.name for p in phases] == ["generator", "discriminator"]
    generator = model.run_phase(phases[0], batch, {}, context)
    assert {"perceptual", "adversarial", "pixel", "psnr"} <= set(generator.terms)
    generator.loss.backward()
    assert model.generator.head.weight.grad is not None
    discriminator = model.run_phase(phases[1], batch, generator.carry, context)
    assert torch.isfinite(discriminator.loss)


def test_bad_perceptual_and_stage_size_are_clear_errors(tmp_path):
    from ageshift.errors import ConfigError, ModelLoadError
    from ageshift.models.superres.perceptual import perceptual_network
    from ageshift.training import train_config

    with pytest.raises(ConfigError, match="perceptual must be"):
        perceptual_network("vgg-that-does-not-exist")
    bad = tmp_path / "x.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(ModelLoadError, match="VGG19"):
        perceptual_network(str(bad))
    with pytest.raises(ConfigError, match="divisible by the scale"):
        train_config(
            "fast", overrides={"stages": [{"size": 30, "batch_size": 1, "steps": 1}]}, family="superres"
        )


@pytest.mark.parametrize("name", ["age", "inception"])
def test_packaged_perceptual_networks_pass_gradients(name):
    from ageshift.errors import AgeshiftError
    from ageshift.models.superres.perceptual import perceptual_network

    try:
        network = perceptual_network(name)
    except AgeshiftError as error:
        pytest.skip(str(error))
    assert network is not None
    images = (torch.rand(1, 3, 48, 48) * 2 - 1).requires_grad_()
    features = network(images)
    features.square().mean().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert not any(parameter.requires_grad for parameter in network.parameters())


def test_photo_crops_split_cache_and_unreadable_files(photos):
    from types import SimpleNamespace

    from ageshift.models.superres.data import VALIDATION_EVERY, PhotoCrops

    (photos / "broken.png").write_bytes(b"not a png")
    data = PhotoCrops(photos, 32, 0, SimpleNamespace(cache_mb=0), False)  # nothing cached: decoded per batch
    assert data.counts() == {"images": 11, "validation": 1}
    assert len(data.skipped) == 1 and "broken.png" in str(data.skipped[0].path)
    generator = torch.Generator().manual_seed(0)
    batches = [data.next_batch(3, generator, 0.5) for _ in range(VALIDATION_EVERY)]
    assert batches[0]["images"].shape == (3, 3, 32, 32)
    assert "validation" not in batches[0] and batches[-1]["validation"].shape == (1, 1, 3, 32, 32)
    again = PhotoCrops(photos, 32, 0, SimpleNamespace(cache_mb=1024), False)
    assert torch.equal(
        again.next_batch(3, torch.Generator().manual_seed(0), 0.5)["images"], batches[0]["images"]
    )
