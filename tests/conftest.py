"""Shared test fixtures: tiny images and folders made on the fly."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

# Two cores on CI: keep torch from oversubscribing when pytest-xdist runs workers.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def random_image(
    rng: np.random.Generator, size: tuple[int, int] = (32, 24), mode: str = "RGB"
) -> Image.Image:
    """A random image of ``size`` (width, height) converted to ``mode``."""
    array = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(array, "RGB").convert(mode)


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread: tiny convolutions gain nothing from a second thread, and on a busy
    shared CPU two OpenMP threads wait on each other (seconds per tiny op)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def cli_exit_code(args: list) -> int:
    """Run the ``ageshift`` CLI in-process (arguments made strings) and return its exit code."""
    from ageshift.cli import main

    try:
        main([str(arg) for arg in args])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def run_cli(args: list, capsys) -> tuple[int, str, str]:
    """Run the CLI in-process; returns exit code, stdout, stderr."""
    code = cli_exit_code(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
