"""The StyleGAN2-ADA family: the paper's components checked one by one, then train → stop → resume → export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ageshift
from ageshift.models.family import StepContext
from ageshift.models.stylegan import (
    AdaptiveAugment,
    StyleGAN,
    StyleGANConfig,
    adjust_p,
    augment,
    mix_styles,
    modulated_conv2d,
    r1_penalty,
)
from ageshift.models.stylegan.networks import Generator
from ageshift.training import train, train_config
from ageshift.training.checkpoint import list_checkpoints, load_checkpoint
from ageshift.training.export import export_run
from ageshift.training.trainer import TrainingInterrupted

TINY = {"image_size": 8, "latent_dim": 8, "w_dim": 8, "channel_base": 64, "channel_max": 8, "r1_every": 2}


def tiny_config(**overrides) -> StyleGANConfig:
    return StyleGANConfig(**{**TINY, **overrides})


def test_demodulation_restores_unit_variance() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 16, 64, 64)  # unit-variance inputs
    weight = torch.randn(8, 16, 3, 3) * 3.0  # far from unit scale on purpose
    styles = torch.rand(4, 16) * 4 + 0.1
    y = modulated_conv2d(x, weight, styles, demodulate=True)
    variance = y[..., 2:-2, 2:-2].var(dim=(2, 3))  # away from the zero padding
    assert variance.mean().item() == pytest.approx(1.0, abs=0.05)
    assert (variance - 1).abs().max().item() < 0.15
    # Without demodulation the statistic follows the weights and styles instead.
    assert modulated_conv2d(x, weight, styles, demodulate=False).var().item() > 10


def test_style_mixing_and_truncation_shapes() -> None:
    torch.manual_seed(0)
    generator = Generator(tiny_config()).eval()
    mapping = generator.mapping
    z, other = torch.randn(3, 8), torch.randn(3, 8)
    ws = mapping(z)
    assert ws.shape == (3, generator.num_ws, 8) == (3, 4, 8)
    mixed = mix_styles(mapping, z, other, torch.tensor([1, 3, 4]))
    assert mixed.shape == ws.shape
    other_ws = mapping(other)
    assert torch.equal(mixed[0, :1], ws[0, :1]) and torch.equal(mixed[0, 1:], other_ws[0, 1:])
    assert torch.equal(mixed[1, :3], ws[1, :3]) and torch.equal(mixed[1, 3:], other_ws[1, 3:])
    assert torch.equal(mixed[2], ws[2])  # cutoff num_ws: no mixing
    mapping.w_avg.normal_()
    assert torch.allclose(mapping(z, truncation_psi=0.0), mapping.w_avg.expand(3, 4, 8))
    half = mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    assert torch.allclose(half[:, :2], (ws[:, :2] + mapping.w_avg) / 2, atol=1e-6)
    assert torch.equal(half[:, 2:], ws[:, 2:])
    assert generator.synthesis(mixed, "const").shape == (3, 3, 8, 8)


def test_r1_matches_the_closed_form_of_a_linear_discriminator() -> None:
    # D(x) = <a, x> + b has ∇ₓD = a everywhere, so the penalty is |a|² for every sample.
    a = torch.randn(3, 4, 4)
    real = torch.randn(5, 3, 4, 4)
    penalty = r1_penalty(lambda x: (x * a).sum(dim=(1, 2, 3)) + 0.3, real)
    assert torch.allclose(penalty, a.square().sum().expand(5))
    # D(x) = Σ x² has ∇ = 2x: the penalty is 4|x|², and it is differentiable in D's parameters.
    scale = torch.tensor(1.5, requires_grad=True)
    penalty = r1_penalty(lambda x: scale * x.square().sum(dim=(1, 2, 3)), real)
    assert torch.allclose(penalty, 4 * 1.5**2 * real.square().sum(dim=(1, 2, 3)))
    penalty.sum().backward()
    assert scale.grad is not None and scale.grad > 0


def test_augment_is_identity_at_p0_and_changes_images_at_p1() -> None:
    images = torch.rand(6, 3, 16, 16) * 2 - 1
    assert torch.equal(augment(images, 0.0), images)
    torch.manual_seed(0)
    changed = augment(images, 1.0)
    assert changed.shape == images.shape and not torch.allclose(changed, images)
    leaf = images.clone().requires_grad_(True)
    augment(leaf, 0.5).sum().backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all()


def test_ada_controller_moves_p_towards_the_target() -> None:
    assert adjust_p(0.1, 0.9, 400, 0.6, 4000) == pytest.approx(0.2)
    assert adjust_p(0.1, 0.2, 400, 0.6, 4000) == pytest.approx(0.0)  # clamped at 0
    ada = AdaptiveAugment("ada", 0.5, 0.6, interval=2, speed_images=100)
    for step in range(4):  # D sure of every real image: r_t = 1 > 0.6, p rises
        ada.observe(torch.ones(10))
        ada.update(step)
    assert float(ada.p) == pytest.approx(0.9) and float(ada.last_r_t) == 1.0
    for step in range(4, 8):  # half right, half wrong: r_t = 0 < 0.6, p falls
        ada.observe(torch.tensor([1.0, -1.0] * 5))
        ada.update(step)
    assert float(ada.p) == pytest.approx(0.5)


def test_without_ada_r_t_is_measured_but_p_stays_put() -> None:
    fixed = AdaptiveAugment("none", 0.0, 0.6, interval=2, speed_images=100)
    for step in range(4):
        fixed.observe(torch.ones(10))
        fixed.update(step)
    assert float(fixed.last_r_t) == 1.0 and float(fixed.p) == 0.0


def _context(seed: int = 0, step: int = 0) -> StepContext:
    import contextlib

    return StepContext(
        torch.device("cpu"), contextlib.nullcontext, torch.Generator().manual_seed(seed), step=step
    )


class MinimalAdam:
    """Adam (lr 0.01, β = (0, 0.99)) without ``torch.optim``, whose first use imports the compiler stack
    (tens of seconds on a busy machine, longer than these tests)."""

    def __init__(self, parameters: list[torch.nn.Parameter]) -> None:
        from ageshift.latent.projection import _adam

        self.parameters = parameters
        self.steps = [_adam(parameter, 0.01, betas=(0.0, 0.99)) for parameter in parameters]

    def zero_grad(self) -> None:
        for parameter in self.parameters:
            parameter.grad = None

    def step(self) -> None:
        for parameter, step in zip(self.parameters, self.steps, strict=True):
            if parameter.grad is not None:
                step()


def _train_discriminator(model: StyleGAN, images: torch.Tensor, steps: int) -> list[float]:
    optimizer = MinimalAdam(list(model.discriminator.parameters()))
    trace = []
    phase = next(p for p in model.phases() if p.name == "discriminator")
    for step in range(steps):
        output = model.run_phase(phase, {"images": images}, {}, _context(step, step))
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        model.augment.update(step)
        trace.append(float(model.augment.p))
    return trace


def test_ada_p_rises_when_the_discriminator_overfits_a_tiny_set() -> None:
    torch.manual_seed(0)
    model = StyleGAN(tiny_config(ada_interval=2, ada_speed_images=200, r1_gamma=0.0))
    images = torch.rand(4, 3, 8, 8) * 2 - 1
    trace = _train_discriminator(model, images, 40)
    assert trace[-1] > 0.2  # D memorised the 4 images: r_t > 0.6 and p climbed


@pytest.mark.slow  # ~20 s on a busy 2-core machine
def test_ada_p_falls_when_the_discriminator_cannot_tell() -> None:
    torch.manual_seed(0)
    model = StyleGAN(tiny_config(augment_p=0.5, ada_interval=2, ada_speed_images=200, r1_gamma=0.0))
    optimizer = MinimalAdam(list(model.discriminator.parameters()))
    phase = next(p for p in model.phases() if p.name == "discriminator")
    for step in range(30):
        # "Real" images drawn fresh by the generator itself: nothing to memorise, D(real) ≈ D(fake).
        with torch.no_grad():
            real = model.generator(torch.randn(8, 8))
        output = model.run_phase(phase, {"images": real}, {}, _context(step, step))
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        model.augment.update(step)
    assert float(model.augment.p) < 0.4


def _image_folder(root: Path, count: int = 8, size: int = 8) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir()
    for index in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{index}.png")
    return root


def _config(steps: int = 6):
    return train_config(
        "fast",
        family="stylegan",
        overrides={
            "model": {**TINY, "image_size": 8},
            "stages": [{"size": 8, "batch_size": 4, "steps": steps}],
            "sample_every": 3,
            "checkpoint_every": 3,
            "log_every": 2,
        },
    )


def test_train_stop_resume_is_bit_exact_and_exports_a_generator(tmp_path: Path) -> None:
    data = _image_folder(tmp_path / "pets")
    options = {"quiet": True, "tensorboard": False, "handle_signals": False}
    straight = train(_config(), data, tmp_path / "straight", **options)
    with pytest.raises(TrainingInterrupted):
        train(_config(), data, tmp_path / "split", should_stop=lambda step: step == 3, **options)
    resumed = train(runs_dir=tmp_path / "split", resume=True, **options)
    expected = load_checkpoint(list_checkpoints(straight)[-1])
    found = load_checkpoint(list_checkpoints(resumed)[-1])
    assert found["step"] == 6
    for key, value in expected["model"].items():
        assert torch.equal(value, found["model"][key]), key
    assert "augment.p" in found["model"] and "generator_ema.mapping.w_avg" in found["model"]
    assert list((resumed / "samples").glob("*.png"))
    model = export_run(straight, tmp_path / "model")
    loaded = ageshift.load(tmp_path / "model")
    assert loaded.family == "stylegan"
    assert torch.equal(model.generate(3, seed=1), loaded.generate(3, seed=1))
    assert loaded.generate(2, seed=0).shape == (2, 3, 8, 8)


def test_latent_generator_in_w_and_w_plus_and_projection_lowers_its_loss() -> None:
    from ageshift.latent import ProjectionConfig, project_images
    from ageshift.latent.stylegan import StyleGANLatentGenerator, noise_regularisation

    torch.manual_seed(0)
    network = Generator(tiny_config(image_size=16))
    for space, size in (("w", 8), ("w+", 6 * 8)):
        latent = StyleGANLatentGenerator(network, space, truncation_psi=0.7)
        latents = latent.sample_latents(3, torch.Generator().manual_seed(0))
        assert latents.shape == (3, size) and latent.latent_dim == size
        images = latent.synthesize(latents)
        assert images.shape == (3, 3, 16, 16) and torch.equal(images, latent.synthesize(latents))
    target = StyleGANLatentGenerator(network, "w").synthesize(
        StyleGANLatentGenerator(network, "w").sample_latents(2, torch.Generator().manual_seed(5))
    )
    result = project_images(
        StyleGANLatentGenerator(network, "w+"),
        target,
        ProjectionConfig(steps=40, learning_rate=0.1),
        progress=False,
    )
    assert result.final_loss < 0.7 * result.initial_loss
    assert result.latents.shape == (2, 48) and result.noise is not None and len(result.noise) == 5
    # The regulariser is ~0 for white noise and large for smooth (copied-image) maps.
    white = [torch.randn(1, 1, 32, 32)]
    smooth = [torch.ones(1, 1, 32, 32)]
    assert noise_regularisation(white) < 1e-2 < noise_regularisation(smooth)


def test_layer_swap_at_the_top_is_the_base_and_at_the_bottom_the_style() -> None:
    from ageshift.models.stylegan.blend import blend_generators

    torch.manual_seed(0)
    base, style = Generator(tiny_config(image_size=16)).eval(), Generator(tiny_config(image_size=16)).eval()
    z = torch.randn(3, 8)
    ws = base.mapping(z)

    def render(generator: Generator) -> torch.Tensor:
        return generator.synthesis(ws, "const")

    assert torch.equal(render(blend_generators(base, style, 16)), render(base))
    assert torch.equal(render(blend_generators(base, style, 0)), render(style))
    middle = render(blend_generators(base, style, 8))
    assert not torch.equal(middle, render(base)) and not torch.equal(middle, render(style))
    with pytest.raises(Exception, match="swap-at 5"):
        blend_generators(base, style, 5)


def _exported_stylegan(tmp_path: Path) -> Path:
    from ageshift.models.stylegan import StyleGANFamily

    torch.manual_seed(0)
    model = StyleGAN(tiny_config(image_size=16))
    exported = StyleGANFamily.export(model, 16, {}, {"family": "stylegan"})
    exported.save_pretrained(tmp_path / "sg")
    return tmp_path / "sg"


def test_latent_cli_runs_with_a_stylegan_generator(tmp_path: Path, capsys, monkeypatch) -> None:
    """fit-direction, edit (with a cached built-in direction), direction-from-photos on a stylegan model."""
    from ageshift.cli import main
    from ageshift.latent import fit_direction
    from ageshift.latent.sources import cache_dir, generator_fingerprint, load_generator

    pytest.importorskip("imageio_ffmpeg", reason="the video extra (imageio-ffmpeg) is not installed")
    folder = _exported_stylegan(tmp_path)
    monkeypatch.setenv("AGESHIFT_CACHE", str(tmp_path / "cache"))
    generator = load_generator(folder, "w+")
    assert generator.latent_dim == 6 * 8
    # A cached built-in direction is used without refitting (the fit itself needs the age estimator).
    latents = torch.randn(200, 48, generator=torch.Generator().manual_seed(0))
    fit_direction(latents, (latents[:, 0] * 5 + 30).numpy()).save(
        cache_dir() / "directions" / f"age-{generator_fingerprint(generator)}"
    )

    def run(*args: str) -> int:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        return int(exit_info.value.code or 0)

    assert run("latent", "edit", "--direction", "age", "--generator", str(folder), "--space", "w+",
               "--frames", "3", "--count", "2", "--upscale", "1", "--out", str(tmp_path / "a.gif")) == 0  # fmt: skip
    assert (tmp_path / "a.gif").is_file()
    # The same name with the W space is another latent size: a different (here missing) cache entry,
    # and a folder direction of the wrong size is refused in one line.
    assert run("latent", "edit", "--direction", str(cache_dir() / "directions" /
               f"age-{generator_fingerprint(generator)}"), "--generator", str(folder),
               "--out", str(tmp_path / "b.gif")) == 2  # fmt: skip
    assert "size 48" in capsys.readouterr().err
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(photos / f"{name}.png")
    pytest.importorskip("onnxruntime", reason="the faces extra (onnxruntime) is not installed")
    assert run("latent", "direction-from-photos", "--old", str(photos / "a.png"), "--young",
               str(photos / "b.png"), "--out", str(tmp_path / "dir"), "--steps", "5",
               "--generator", str(folder)) == 0  # fmt: skip
    from ageshift.latent import LatentDirection

    direction = LatentDirection.load(tmp_path / "dir")
    assert direction.latent_dim == 8 and direction.method == "photo-difference"


def test_fine_tune_starts_from_the_base_and_stylize_writes_the_photo(tmp_path: Path, capsys) -> None:
    from ageshift.cli import main
    from ageshift.models.stylegan import StyleGANFamily

    folder = _exported_stylegan(tmp_path)
    # model.init_from: the fine-tune's generators start as the base's.
    tuned = StyleGANFamily.build(tiny_config(image_size=16, init_from=str(folder)))
    base = ageshift.load(folder).networks["generator"]
    for name, value in base.state_dict().items():
        assert torch.equal(tuned.generator_ema.state_dict()[name], value)
        assert torch.equal(tuned.generator.state_dict()[name], value)
    with pytest.raises(Exception, match="init_from"):
        StyleGANFamily.build(tiny_config(image_size=8, init_from=str(folder)))
    photo = tmp_path / "cat.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(photo)
    pytest.importorskip("onnxruntime", reason="the faces extra (onnxruntime) is not installed")
    with pytest.raises(SystemExit) as exit_info:
        main(["stylize", str(photo), "--base", str(folder), "--style", str(folder), "--swap-at", "8",
              "--steps", "4", "--out", str(tmp_path / "toon.png")])  # fmt: skip
    assert exit_info.value.code == 0, capsys.readouterr().err
    from PIL import Image as PILImage

    assert PILImage.open(tmp_path / "toon.png").size == (40, 30)
    assert (tmp_path / "toon_strip.png").is_file() and (tmp_path / "toon.json").is_file()


def test_prepare_generated_with_a_stylegan_generator(tmp_path: Path, capsys, monkeypatch) -> None:
    """``prepare generated --generator MODEL --space w+`` samples, steers and writes the StyleGAN's images."""
    import csv
    import json

    from ageshift.cli import main
    from ageshift.latent import scoring
    from ageshift.latent.sources import load_generator

    folder = _exported_stylegan(tmp_path)
    generator = load_generator(folder, "w+")
    with torch.no_grad():
        probe = generator.synthesize(generator.sample_latents(200, torch.Generator().manual_seed(1)))
    brightness = probe.mean(dim=(1, 2, 3))
    median, spread = float(brightness.median()), float(brightness.std())

    def ages(images: torch.Tensor) -> np.ndarray:  # a stand-in "age": brightness, half below 40, half above
        return (40 + 20 * (images.mean(dim=(1, 2, 3)) - median) / spread).clamp(0, 120).double().numpy()

    monkeypatch.setattr(scoring, "packaged_age_function", lambda: ages)
    out = tmp_path / "data"
    args = ["prepare", "generated", "--out", str(out), "--count", "8", "--young", "0-39", "--old", "41-120",
            "--fit-samples", "400", "--generator", str(folder), "--space", "w+"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code in (0, None), capsys.readouterr().err
    described = json.loads((out / "dataset.json").read_text())
    assert described["image_size"] == 16 and described["generator"] == generator.name
    with open(out / "manifest.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert sorted(row["domain"] for row in rows) == ["A"] * 8 + ["B"] * 8
    for row in rows:
        assert Image.open(out / row["file"]).size == (16, 16)
        assert (float(row["age"]) < 40) == (row["domain"] == "A")
    # The model folder may not be the output (with --overwrite it would be replaced).
    with pytest.raises(SystemExit) as exit_info:
        main([*args[:2], "--out", str(folder), *args[4:], "--overwrite"])
    assert exit_info.value.code == 2 and "input folder" in capsys.readouterr().err
    assert (folder / "config.json").is_file()


class _PooledColours(torch.nn.Module):
    """A stand-in FID feature network (TorchScript like the packaged Inception): 4×4 mean colours."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)


def _metrics_rows(run: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_fid_kid_every_n_steps_are_logged_and_change_nothing_in_training(tmp_path: Path) -> None:
    """``metrics_every``: fid/kid rows at its steps; with a stop and resume, the same weights as without it."""
    features = tmp_path / "features.pt"
    torch.jit.script(_PooledColours()).save(str(features))
    data = _image_folder(tmp_path / "pets")
    options = {"quiet": True, "tensorboard": False, "handle_signals": False}
    short = {"stages": [{"size": 8, "batch_size": 4, "steps": 4}], "checkpoint_every": 2, "sample_every": 100}
    measured = {"metrics_every": 2, "metrics_images": 8, "metrics_features": str(features)}

    def config(**more):
        overrides = {"model": {**TINY, "image_size": 8}, "log_every": 2, **short, **more}
        return train_config("fast", family="stylegan", overrides=overrides)

    plain = train(config(), data, tmp_path / "plain", **options)
    with pytest.raises(TrainingInterrupted):
        train(config(**measured), data, tmp_path / "split", should_stop=lambda step: step == 2, **options)
    resumed = train(runs_dir=tmp_path / "split", resume=True, **options)
    # Measuring, stopping and resuming together leave every weight as a plain uninterrupted run has it.
    weights = [load_checkpoint(list_checkpoints(run)[-1])["model"] for run in (plain, resumed)]
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key
    rows = [row for row in _metrics_rows(resumed) if "fid" in row]
    assert [row["step"] for row in rows] == [2, 4]
    assert all(row["fid"] > 0 and np.isfinite(row["kid"]) and row["kid_std"] >= 0 for row in rows)
    assert not any("fid" in row for row in _metrics_rows(plain))
    header = (resumed / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"fid", "kid", "kid_std"} <= set(header)


def test_metrics_every_is_refused_for_a_family_without_samples() -> None:
    from ageshift.errors import ConfigError
    from ageshift.registry import get_family
    from ageshift.training.realism import check_realism

    config = train_config("fast", family="cyclegan", overrides={"metrics_every": 5})
    model = get_family("cyclegan").build(config.model_config())
    with pytest.raises(ConfigError, match="metrics_every"):
        check_realism(config, model)
    check_realism(train_config("fast", family="cyclegan"), model)  # off: nothing to check


@pytest.mark.slow
def test_fid_kid_in_training_with_the_packaged_inception(tmp_path: Path) -> None:
    """The default feature network (the packaged TF-Inception): one measurement at the last step."""
    overrides = {"model": {**TINY, "image_size": 8}, "stages": [{"size": 8, "batch_size": 4, "steps": 2}],
                 "metrics_every": 2, "metrics_images": 8, "sample_every": 100}  # fmt: skip
    config = train_config("fast", family="stylegan", overrides=overrides)
    run = train(config, _image_folder(tmp_path / "pets"), tmp_path / "runs", quiet=True, tensorboard=False)
    (row,) = [row for row in _metrics_rows(run) if "fid" in row]
    assert row["step"] == 2 and row["fid"] > 1.0 and np.isfinite(row["kid_std"])


def test_lazy_regularisation_scales_adam_as_in_the_paper() -> None:
    """A group regularised every k steps trains with lr·c and β^c, c = k/(k+1) (StyleGAN2 appendix B)."""
    from ageshift.training.phases import resolve_precision
    from ageshift.training.state import build_state

    device = torch.device("cpu")
    overrides = {"model": {**TINY, "r1_every": 16, "path_length_weight": 2.0, "path_length_every": 4}}
    config = train_config("fast", family="stylegan", overrides=overrides)
    state = build_state(config, device, resolve_precision("fp32", device), config.model_config())
    groups = {name: optimizer.param_groups[0] for name, optimizer in state.optimizers.items()}
    assert groups["discriminator"]["lr"] == pytest.approx(config.learning_rate * 16 / 17)
    assert groups["discriminator"]["betas"][1] == pytest.approx(config.betas[1] ** (16 / 17))
    assert groups["generator"]["lr"] == pytest.approx(config.learning_rate * 4 / 5)
    assert groups["discriminator"]["betas"][0] == config.betas[0] == 0.0
    plain = train_config("fast", family="stylegan", overrides={"model": {**TINY, "r1_gamma": 0.0}})
    state = build_state(plain, device, resolve_precision("fp32", device), plain.model_config())
    assert state.optimizers["discriminator"].param_groups[0]["lr"] == pytest.approx(plain.learning_rate)


def test_fir_resampling_keeps_constants_removes_aliasing_and_trains() -> None:
    """The paper's [1, 3, 3, 1] filter: flat stays flat away from the border, the Nyquist pattern vanishes on the
    way down, and a `resample=fir` generator and discriminator run forward and backward at every resolution."""
    from ageshift.errors import ConfigError
    from ageshift.models.stylegan.networks import Discriminator, downsample2x, upsample2x

    flat = torch.full((1, 2, 16, 16), 0.7)
    assert torch.allclose(upsample2x(flat, "fir")[..., 2:-2, 2:-2], flat.new_full((1, 2, 28, 28), 0.7))
    assert torch.allclose(downsample2x(flat, "fir")[..., 1:-1, 1:-1], flat.new_full((1, 2, 6, 6), 0.7))
    checker = ((torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2).float()[None, None] * 2 - 1
    assert downsample2x(checker, "fir")[..., 1:-1, 1:-1].abs().max() < 1e-6
    stripes = torch.cos(torch.arange(16.0) * torch.pi * 0.75).expand(1, 1, 16, 16)  # 3/8 cycle per pixel
    # Above the new Nyquist: average pooling lets much of it through, the FIR filter far less.
    fir, box = (
        downsample2x(stripes, "fir")[..., 1:-1, 1:-1],
        downsample2x(stripes, "bilinear")[..., 1:-1, 1:-1],
    )
    assert fir.abs().max() < 0.5 * box.abs().max()
    config = tiny_config(resample="fir", image_size=16)
    generator, discriminator = Generator(config), Discriminator(config)
    images = generator(torch.randn(2, config.latent_dim))
    assert images.shape == (2, 3, 16, 16)
    discriminator(images).sum().backward()
    assert all(p.grad is not None for p in generator.parameters() if p.requires_grad)
    with pytest.raises(ConfigError, match="resample"):
        tiny_config(resample="nearest")
