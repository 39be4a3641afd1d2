"""ageshift CLI: ``export-onnx`` (ONNX graphs of a model folder) and the ``--backend`` choice of other commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..errors import AgeshiftError
from ..onnx.backends import BACKENDS, load_with_backend  # noqa: F401  (re-exported for the commands)
from ._app import app
from ._console import say


def backend_option() -> Any:
    """The ``--backend`` option shared by ``translate``, ``age`` and ``serve``."""
    return typer.Option(
        "torch",
        "--backend",
        help="torch; onnxruntime: the model folder's ONNX graphs on the CPU, without PyTorch (docs/onnx.md); "
        "onnxruntime-int8: its int8 graphs (export-onnx --int8).",
    )


def write_onnx(translator: Any, folder: Path, int8: bool = False) -> None:
    """Write ``translator``'s ONNX graphs into its model ``folder`` and say what was measured."""
    from ..onnx.export import export_onnx

    contract = export_onnx(translator, folder)
    parity = (contract.get("parity") or {}).get("max_abs_difference") or {}
    measured = ", ".join(f"{name} (max |Δ| vs PyTorch {value:.1e})" for name, value in parity.items())
    say(f"wrote {measured or ', '.join(contract['graphs'].values())} to {folder}")
    if int8:
        from ..onnx.quantize import quantize_folder

        for name, entry in quantize_folder(folder).items():
            say(
                f"wrote {entry['file']} (int8; PSNR vs fp32 output {entry['psnr_vs_fp32']:.1f} dB) for {name}"
            )


@app.command("export-onnx")
def export_onnx_command(
    model: str = typer.Argument(
        ...,
        metavar="MODEL",
        help="A model folder (`ageshift export`, `import-cyclegan`) or a packaged name (srresnet-x4, …).",
    ),
    out: Path = typer.Option(..., "--out", help="Folder to write: the model's files plus its ONNX graphs."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the files of an existing folder."),
    int8: bool = typer.Option(
        False, "--int8", help="Also write int8 dynamically quantised graphs (smaller; quality loss measured)."
    ),
) -> None:
    """Write ONNX graphs (one per direction, or one conditional graph) and their input contract for onnxruntime."""
    from ..models.translator import load
    from ..outputs import OutputPlan

    source = Path(model)
    if source.exists() and out.resolve() == source.resolve():
        raise AgeshiftError(
            f"{out}: is the model folder itself; choose another --out (the model is never modified)"
        )
    plan = OutputPlan([source] if source.exists() else [])
    plan.folder(out, "--out")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise AgeshiftError(f"{out}: folder exists and is not empty (use --overwrite to replace its files)")
    translator = load(model)
    translator.save_pretrained(out)
    write_onnx(translator, out, int8=int8)
