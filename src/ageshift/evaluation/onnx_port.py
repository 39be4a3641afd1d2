"""A differentiable PyTorch form of small ONNX convolutional graphs (the packaged age and gender nets).

The packaged estimators are dlib ResNets exported to ONNX with a dozen operator kinds. Rather than a
general converter we port exactly those operators: weights are read from the graph's initializers and the
nodes run in graph order, so gradients flow back to the input image for an age loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..assets import require_module
from ..errors import ModelLoadError

SUPPORTED_OPERATORS = (
    "Conv",
    "Mul",
    "Add",
    "Relu",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Pad",
    "Flatten",
    "Gemm",
    "Softmax",
)


class OnnxConvNet(nn.Module):
    """Runs a small ONNX CNN graph in PyTorch; weights are frozen buffers, the input keeps its gradient.

    Args:
        nodes: ``(op_type, inputs, outputs, attributes)`` in graph order.
        constants: initializer name → tensor.
        input_name: the graph input.
        output_name: the graph output.
    """

    def __init__(
        self,
        nodes: list[tuple[str, list[str], list[str], dict[str, Any]]],
        constants: dict[str, torch.Tensor],
        input_name: str,
        output_name: str,
    ) -> None:
        super().__init__()
        self.nodes = nodes
        self.input_name = input_name
        self.output_name = output_name
        self._buffer_names: dict[str, str] = {}
        for index, (name, value) in enumerate(constants.items()):
            buffer_name = f"constant_{index}"
            self.register_buffer(buffer_name, value)
            self._buffer_names[name] = buffer_name

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Run the graph.

        Args:
            images: ``(B, C, H, W)`` float tensor, already normalised as the graph expects.

        Returns:
            The graph output, e.g. ``(B, classes)`` probabilities.
        """
        values: dict[str, torch.Tensor] = {self.input_name: images}
        for name, buffer_name in self._buffer_names.items():
            values[name] = getattr(self, buffer_name)
        for op_type, inputs, outputs, attributes in self.nodes:
            arguments = [values[name] for name in inputs]
            values[outputs[0]] = _run_node(op_type, arguments, attributes)
        return values[self.output_name]


def _run_node(op_type: str, arguments: list[torch.Tensor], attributes: dict[str, Any]) -> torch.Tensor:
    """Evaluate one ONNX node with PyTorch operations."""
    if op_type == "Conv":
        return F.conv2d(
            arguments[0],
            arguments[1],
            arguments[2] if len(arguments) > 2 else None,
            stride=tuple(attributes.get("strides", (1, 1))),
            padding=_symmetric_padding(attributes.get("pads", (0, 0, 0, 0))),
            dilation=tuple(attributes.get("dilations", (1, 1))),
            groups=int(attributes.get("group", 1)),
        )
    if op_type == "Mul":
        return arguments[0] * arguments[1]
    if op_type == "Add":
        return arguments[0] + arguments[1]
    if op_type == "Relu":
        return F.relu(arguments[0])
    if op_type in ("MaxPool", "AveragePool"):
        return _pool(op_type, arguments[0], attributes)
    if op_type == "GlobalAveragePool":
        return arguments[0].mean(dim=(2, 3), keepdim=True)
    if op_type == "Pad":
        return _pad(arguments[0], arguments[1])
    if op_type == "Flatten":
        return torch.flatten(arguments[0], start_dim=int(attributes.get("axis", 1)))
    if op_type == "Gemm":
        return _gemm(arguments, attributes)
    if op_type == "Softmax":
        return torch.softmax(arguments[0], dim=int(attributes.get("axis", -1)))
    raise ModelLoadError(
        f"ONNX operator {op_type} is not supported (supported: {', '.join(SUPPORTED_OPERATORS)})"
    )


def _symmetric_padding(pads: list[int] | tuple[int, ...]) -> tuple[int, int]:
    top, left, bottom, right = pads
    if (top, left) != (bottom, right):
        raise ModelLoadError(f"asymmetric convolution/pool padding {list(pads)} is not supported")
    return int(top), int(left)


def _pool(op_type: str, tensor: torch.Tensor, attributes: dict[str, Any]) -> torch.Tensor:
    kernel = tuple(attributes["kernel_shape"])
    stride = tuple(attributes.get("strides", kernel))
    padding = _symmetric_padding(attributes.get("pads", (0, 0, 0, 0)))
    ceil_mode = bool(attributes.get("ceil_mode", 0))
    if op_type == "MaxPool":
        return F.max_pool2d(tensor, kernel, stride, padding, ceil_mode=ceil_mode)
    include_pad = bool(attributes.get("count_include_pad", 0))
    return F.avg_pool2d(tensor, kernel, stride, padding, ceil_mode=ceil_mode, count_include_pad=include_pad)


def _pad(tensor: torch.Tensor, pads: torch.Tensor) -> torch.Tensor:
    # ONNX lists all leading pads then all trailing pads; F.pad wants (last-dim begin, end, …) pairs.
    amounts = [int(value) for value in pads.tolist()]
    rank = len(amounts) // 2
    torch_pads: list[int] = []
    for axis in reversed(range(rank)):
        torch_pads += [amounts[axis], amounts[axis + rank]]
    return F.pad(tensor, torch_pads)


def _gemm(arguments: list[torch.Tensor], attributes: dict[str, Any]) -> torch.Tensor:
    left, right = arguments[0], arguments[1]
    if attributes.get("transA", 0):
        left = left.t()
    if attributes.get("transB", 0):
        right = right.t()
    result = float(attributes.get("alpha", 1.0)) * (left @ right)
    if len(arguments) > 2:
        result = result + float(attributes.get("beta", 1.0)) * arguments[2]
    return result


def load_onnx_convnet(path: str | Path) -> OnnxConvNet:
    """Read an ONNX file into an :class:`OnnxConvNet` (needs the ``onnx`` package).

    Args:
        path: the ``.onnx`` file.

    Returns:
        The PyTorch module in eval mode with frozen weights.
    """
    onnx = require_module("onnx", "onnx", "eval", "The differentiable age estimator")
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: ONNX file does not exist")
    try:
        model = onnx.load(str(path))
    except Exception as error:  # onnx raises several unrelated types for a corrupt file
        raise ModelLoadError(f"{path}: cannot read ONNX model ({error})") from None
    graph = model.graph
    constants = {
        item.name: torch.from_numpy(numpy_helper.to_array(item).copy()) for item in graph.initializer
    }
    nodes = []
    for node in graph.node:
        if node.op_type not in SUPPORTED_OPERATORS:
            raise ModelLoadError(
                f"{path}: operator {node.op_type} is not supported "
                f"(supported: {', '.join(SUPPORTED_OPERATORS)})"
            )
        attributes = {item.name: onnx.helper.get_attribute_value(item) for item in node.attribute}
        nodes.append((node.op_type, list(node.input), list(node.output), attributes))
    graph_inputs = [item.name for item in graph.input if item.name not in constants]
    network = OnnxConvNet(nodes, constants, graph_inputs[0], graph.output[0].name)
    return network.eval().requires_grad_(False)
