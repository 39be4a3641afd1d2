"""Which runtime runs a model: PyTorch, or the model folder's ONNX graphs on onnxruntime (no PyTorch needed).

Used by ``translate``, ``age`` and ``serve`` (``--backend``); importing it imports neither torch nor onnxruntime.
"""

from __future__ import annotations

from typing import Any

from ..errors import AgeshiftError

#: ``--backend`` values: PyTorch, or the model folder's ONNX graphs on onnxruntime (no PyTorch needed).
BACKENDS = ("torch", "onnxruntime", "onnxruntime-int8")


def load_with_backend(model: str, backend: str, device: str = "auto") -> Any:
    """Load ``model`` for ``backend``: a :class:`~ageshift.models.translator.Translator` or an ``OnnxTranslator``.

    Raises:
        AgeshiftError: an unknown backend, or ``--device`` other than the CPU with onnxruntime.
    """
    if backend not in BACKENDS:
        raise AgeshiftError(f"--backend {backend!r} is not known; choose one of {', '.join(BACKENDS)}")
    if backend.startswith("onnxruntime"):
        if device not in ("auto", "cpu"):
            raise AgeshiftError(
                f"--backend {backend} runs on the CPU; --device {device} is not available there"
            )
        if model == "identity":
            raise AgeshiftError(
                "the built-in identity model runs with --backend torch only (it has no ONNX graph)"
            )
        from .runtime import load_onnx

        return load_onnx(model, int8=backend.endswith("int8"))
    from ..device import resolve_device
    from ..models.translator import load

    return load(model, device=resolve_device(device))
