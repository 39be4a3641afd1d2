"""Importing reference CycleGAN (junyanz/pytorch-CycleGAN-and-pix2pix) generator checkpoints.

The oracle is a minimal re-implementation of the reference ``ResnetGenerator`` as one ``nn.Sequential``
named ``model``, written from the architecture description so its state-dict keys are the reference's.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch import nn

import ageshift
from ageshift.errors import ModelLoadError
from ageshift.models.cyclegan.reference import (
    import_cyclegan,
    infer_layout,
    load_reference_generator,
    read_checkpoint,
)

ATOL = 1e-5


class ReferenceBlock(nn.Module):
    """``x + conv_block(x)``: pad, conv, norm, ReLU, [dropout], pad, conv, norm."""

    def __init__(self, dim: int, norm_layer, dropout: bool, bias: bool, attribute: str) -> None:
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(dim)]
        self.attribute = attribute
        setattr(self, attribute, nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + getattr(self, self.attribute)(x)


class ReferenceGenerator(nn.Module):
    """The reference ResnetGenerator layout (two downsamplings, transposed-conv upsampling)."""

    def __init__(
        self,
        ngf: int = 8,
        n_blocks: int = 2,
        norm: str = "instance",
        dropout: bool = False,
        attribute: str = "conv_block",
    ) -> None:
        super().__init__()
        norm_layer = {
            "instance": lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False),
            "instance_affine": lambda c: nn.InstanceNorm2d(c, affine=True),
            "batch": lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True),
            "none": lambda c: nn.Identity(),
        }[norm]
        bias = norm.startswith("instance")
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=bias), norm_layer(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2**i
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                norm_layer(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ReferenceBlock(ngf * 4, norm_layer, dropout, bias, attribute) for _ in range(n_blocks)]
        for i in range(2):
            mult = 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=bias
                ),
                norm_layer(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def randomized(reference: ReferenceGenerator, seed: int = 0) -> ReferenceGenerator:
    """Give every parameter and running statistic random values, so a wrong mapping cannot pass."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in reference.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.2)
    return reference.eval()


def assert_same_outputs(ours: nn.Module, reference: nn.Module, size: int = 32) -> None:
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.inference_mode():
        expected, actual = reference.eval()(images), ours.eval()(images)
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    ("norm", "dropout", "attribute", "n_blocks"),
    [
        ("instance", False, "conv_block", 2),
        ("batch", False, "conv_block", 3),
        ("instance", True, "conv_block", 2),
        ("batch", True, "conv_block", 1),
        ("instance_affine", False, "block", 2),
        ("none", False, "conv_block", 2),
    ],
)
def test_import_matches_reference_outputs(tmp_path, norm, dropout, attribute, n_blocks):
    reference = randomized(ReferenceGenerator(8, n_blocks, norm, dropout, attribute))
    path = tmp_path / "latest_net_G_A.pth"
    torch.save(reference.state_dict(), path)

    ours = load_reference_generator(path)

    config = ours.config
    assert (config.channels, config.num_res_blocks, config.num_downsamples) == (8, n_blocks, 2)
    assert config.norm == ("instance" if norm.startswith("instance") else norm)
    assert config.norm_affine == (norm == "instance_affine")
    assert (config.dropout > 0) == dropout
    assert_same_outputs(ours, reference)


def test_old_instance_norm_running_stats_are_dropped(tmp_path):
    reference = randomized(ReferenceGenerator(8, 2, "instance"))
    state = reference.state_dict()
    # PyTorch < 0.4 stored running statistics on every InstanceNorm layer.
    for index in (2, 5, 8, 13, 16):
        state[f"model.{index}.running_mean"] = torch.randn(state[f"model.{index - 1}.weight"].shape[0])
        state[f"model.{index}.running_var"] = torch.rand(state[f"model.{index - 1}.weight"].shape[0])
        state[f"model.{index}.num_batches_tracked"] = torch.tensor(7)
    state["model.10.conv_block.2.running_mean"] = torch.randn(32)
    state["model.10.conv_block.2.running_var"] = torch.rand(32)
    path = tmp_path / "old.pth"
    torch.save(state, path)

    ours = load_reference_generator(path)

    assert ours.config.norm == "instance"
    assert_same_outputs(ours, reference)


def test_wrapped_and_data_parallel_checkpoints(tmp_path):
    reference = randomized(ReferenceGenerator(8, 2, "batch"))
    prefixed = {f"module.{key}": value for key, value in reference.state_dict().items()}
    path = tmp_path / "wrapped.pth"
    torch.save({"epoch": torch.tensor(3), "state_dict": prefixed, "optimizer": {}}, path)

    assert set(read_checkpoint(path)) == set(reference.state_dict())
    assert_same_outputs(load_reference_generator(path), reference)


def test_old_batch_norm_without_counter(tmp_path):
    reference = randomized(ReferenceGenerator(8, 1, "batch"))
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old_batch.pth"
    torch.save(state, path)
    assert_same_outputs(load_reference_generator(path), reference)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"definitely not a checkpoint", "cannot read as a PyTorch checkpoint"),
        ("discriminator", "model.1.weight"),
        ("missing_head", "head convolution"),
        ("two_generators", "several generators"),
        ("grayscale", "RGB"),
    ],
)
def test_bad_checkpoints_raise_named_errors(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "discriminator":
        torch.save({"model.0.weight": torch.zeros(8, 3, 4, 4), "model.0.bias": torch.zeros(8)}, path)
    elif content == "missing_head":
        state = ReferenceGenerator(8, 2).state_dict()
        del state["model.19.weight"], state["model.19.bias"]
        torch.save(state, path)
    elif content == "two_generators":
        state = ReferenceGenerator(8, 1).state_dict()
        torch.save({"G_A": state, "G_B": state}, path)
    else:
        state = ReferenceGenerator(8, 1).state_dict()
        state["model.1.weight"] = torch.zeros(8, 1, 7, 7)
        torch.save(state, path)

    with pytest.raises(ModelLoadError, match=message) as caught:
        load_reference_generator(path)
    assert str(path) in str(caught.value)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_reference_generator(tmp_path / "nope.pth")


def test_import_cyclegan_writes_a_loadable_two_way_model(tmp_path):
    to_old, to_young = (randomized(ReferenceGenerator(8, 2), seed) for seed in (1, 2))
    paths = [tmp_path / "latest_net_G_A.pth", tmp_path / "latest_net_G_B.pth"]
    for module, path in zip((to_old, to_young), paths, strict=True):
        torch.save(module.state_dict(), path)

    folder = import_cyclegan(paths[0], paths[1], tmp_path / "model", image_size=32, name="tiny")

    model = ageshift.load(str(folder))
    assert model.directions == ("older", "younger")
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(model.translate(images, "older"), to_old(images), atol=ATOL, rtol=0)
        torch.testing.assert_close(model.translate(images, "younger"), to_young(images), atol=ATOL, rtol=0)
    config = json.loads((folder / "config.json").read_text())
    files = config["metadata"]["imported_from"]["files"]
    assert config["metadata"]["name"] == "tiny"
    assert files["older"]["path"].endswith("latest_net_G_A.pth")
    import hashlib

    assert files["younger"]["sha256"] == hashlib.sha256(paths[1].read_bytes()).hexdigest()


def test_import_one_direction_and_mismatched_pair(tmp_path):
    small, large = ReferenceGenerator(8, 2), ReferenceGenerator(8, 3)
    torch.save(small.state_dict(), tmp_path / "a.pth")
    torch.save(large.state_dict(), tmp_path / "b.pth")

    model = ageshift.load(str(import_cyclegan(tmp_path / "a.pth", None, tmp_path / "one", image_size=32)))
    assert model.directions == ("older",)
    with pytest.raises(ageshift.errors.AgeshiftError, match="younger"):
        model.translate(torch.zeros(1, 3, 32, 32), "younger")
    with pytest.raises(ModelLoadError, match="different architectures"):
        import_cyclegan(tmp_path / "a.pth", tmp_path / "b.pth", tmp_path / "two")
    assert not (tmp_path / "two").exists()


def _vintagify_checkpoint() -> Path:
    spec = importlib.util.find_spec("vintagify")  # finds the folder without importing (it needs torchvision)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the vintagify package (a real reference-layout CycleGAN checkpoint) is not installed")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("resources/*.pth"))
    if not found:
        pytest.skip("the vintagify package ships no .pth file in this version")
    return found[0]


def test_real_vintagify_checkpoint_matches_reference_layout():
    path = _vintagify_checkpoint()
    state = torch.load(path, map_location="cpu", weights_only=True)
    reference = ReferenceGenerator(64, 9, "instance_affine", attribute="block")
    reference.load_state_dict(state, strict=True)

    layout = infer_layout(read_checkpoint(path), str(path))
    ours = load_reference_generator(path)

    assert (layout.config.channels, layout.config.num_res_blocks, layout.config.norm_affine) == (64, 9, True)
    assert sum(p.numel() for p in ours.parameters()) == pytest.approx(11.39e6, rel=0.01)
    assert_same_outputs(ours, reference, size=32)
