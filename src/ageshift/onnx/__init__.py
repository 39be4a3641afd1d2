"""ONNX export of every model family and a CPU runtime on onnxruntime (docs/onnx.md).

- :mod:`ageshift.onnx.export` (needs PyTorch): ``export_onnx(translator, folder)`` writes one graph per
  direction (two-domain models), one conditional graph, a super-resolution graph or a generator graph, and
  the preprocessing contract into the model card (``card.onnx``).
- :mod:`ageshift.onnx.runtime` (numpy + onnxruntime, no PyTorch): ``load_onnx(folder)`` returns an
  :class:`~ageshift.onnx.runtime.OnnxTranslator` that ``translate`` and ``age`` use with ``--backend onnxruntime``.

Nothing is imported here, so ``import ageshift.onnx.runtime`` stays free of PyTorch.
"""
