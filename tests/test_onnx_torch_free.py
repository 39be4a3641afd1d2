"""The onnxruntime backend without PyTorch: `translate` and `age` (detection, alignment, paste-back) run in a
subprocess where ``import torch`` raises ImportError (a ``sys.meta_path`` finder), as in an ``ageshift[runtime]``
install that has no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from ageshift.onnx.export import export_onnx  # noqa: E402
from ageshift.registry import get_family  # noqa: E402

#: Runs the ageshift CLI with torch unimportable; prints whether any torch module got loaded anyway.
NO_TORCH = textwrap.dedent(
    """
    import sys

    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision"):
                raise ImportError(f"No module named {name!r} (blocked: this test runs without PyTorch)")
            return None

    sys.meta_path.insert(0, NoTorch())
    from ageshift.cli import main

    try:
        main(sys.argv[1:])
    finally:
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "torch")
        print("TORCH-MODULES:", loaded, file=sys.stderr)
    """
)


def _without_torch(tmp_path: Path, *args: object) -> subprocess.CompletedProcess:
    script = tmp_path / "no_torch.py"
    script.write_text(NO_TORCH)
    environment = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        capture_output=True, text=True, timeout=120, env=environment,
    )  # fmt: skip
    assert "TORCH-MODULES: []" in result.stderr, result.stderr
    return result


def _model(tmp_path: Path, family_name: str, overrides: dict) -> Path:
    family = get_family(family_name)
    torch.manual_seed(0)
    model = family.build(family.model_config("fast", overrides)).eval()
    translator = family.export(model, 32, {"crop": None}, {"family": family_name})
    folder = translator.save_pretrained(tmp_path / family_name)
    export_onnx(translator, folder)
    return folder


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "photo.png"
    try:
        from skimage import data

        Image.fromarray(data.astronaut()).save(path)
    except ImportError:
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(path)
    return path


def test_translate_and_age_run_without_torch(tmp_path, photo, one_torch_thread):
    cyclegan = _model(tmp_path, "cyclegan", {"generator": {"channels": 4, "num_res_blocks": 1}})
    result = _without_torch(tmp_path, "translate", cyclegan, photo, tmp_path / "older.png", "-d", "older",
                            "--backend", "onnxruntime")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "older.png").size == Image.open(photo).size

    stargan = _model(tmp_path, "stargan", {
        "generator": {"channels": 4, "num_res_blocks": 1}, "discriminator": {"channels": 4, "num_layers": 3},
        "image_size": 32, "age_range": [15, 80], "attributes": {"hair": ["black", "blond"]},
    })  # fmt: skip
    result = _without_torch(tmp_path, "age", photo, "-m", stargan, "--target-age", "70", "--attribute", "hair=blond",
                            "--box", "10,10,90,100", "--out", tmp_path / "aged", "--backend", "onnxruntime")  # fmt: skip
    assert result.returncode == 0, result.stderr
    aged = np.asarray(Image.open(tmp_path / "aged" / "photo.png"), np.int16)
    original = np.asarray(Image.open(photo).convert("RGB"), np.int16)
    assert aged.shape == original.shape
    assert np.abs(aged - original)[-100:, -100:].max() == 0  # far from the box: untouched
    assert np.abs(aged - original)[30:80, 30:70].max() > 0  # inside: edited

    result = _without_torch(tmp_path, "translate", cyclegan, photo, tmp_path / "x.png", "-d", "older")
    assert result.returncode != 0  # the torch backend needs torch, and says so


def test_age_with_face_detection_runs_without_torch(tmp_path, photo, one_torch_thread):
    pytest.importorskip("skimage")
    from ageshift.errors import AgeshiftError
    from ageshift.faces import create_detector

    try:
        create_detector("mtcnn")
    except AgeshiftError as error:
        pytest.skip(f"no MTCNN detector here ({error})")
    cyclegan = _model(tmp_path, "cyclegan", {"generator": {"channels": 4, "num_res_blocks": 1}})
    result = _without_torch(tmp_path, "age", photo, "-m", cyclegan, "-d", "younger", "--out", tmp_path / "aged",
                            "--backend", "onnxruntime", "--report", tmp_path / "report.json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report["photos"][0]["faces"]) == 1  # the astronaut's face, found by MTCNN on onnxruntime


@pytest.mark.skipif(
    not os.environ.get("AGESHIFT_RUNTIME_PYTHON"),
    reason="set AGESHIFT_RUNTIME_PYTHON to the python of a venv without torch (.ci/runtime-venv builds one)",
)
def test_age_in_a_venv_without_torch(tmp_path, photo, one_torch_thread):
    """The same photo pipeline in a real environment that has no torch installed (the runtime install)."""
    python = os.environ["AGESHIFT_RUNTIME_PYTHON"]
    check = subprocess.run([python, "-c", "import torch"], capture_output=True, timeout=60)
    assert check.returncode != 0, f"{python} has torch installed: not a runtime-only environment"
    cyclegan = _model(tmp_path, "cyclegan", {"generator": {"channels": 4, "num_res_blocks": 1}})
    source = str(Path(__file__).resolve().parents[1] / "src")
    code = "import sys; from ageshift.cli import main; main(sys.argv[1:])"
    arguments = ["age", photo, "-m", cyclegan, "-d", "older", "--box", "10,10,90,100", "--out", tmp_path / "aged",
                 "--backend", "onnxruntime"]  # fmt: skip
    environment = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": source}
    result = subprocess.run([python, "-c", code, *map(str, arguments)], capture_output=True, text=True,
                            timeout=120, env=environment)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "aged" / "photo.png").is_file()
