"""Every command that writes files, against outputs that would lose a user's file or cannot be written: refused
before any work with one line and exit 2, inputs byte-for-byte unchanged; skipped inputs exit 1; paths with
square brackets printed as they are."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import run_cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def photo(path: Path, seed: int = 0, side: int = 48) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(array).save(path)
    return path


def hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def one_error(err: str) -> str:
    """The one line a refused command prints (and the proof that it printed nothing else)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def folder(tmp_path) -> Path:
    """``dir/`` with face.png and the colliding pair x.jpg, x.png; plus a stray file ``file``."""
    photo(tmp_path / "dir" / "face.png", 0)
    photo(tmp_path / "dir" / "x.jpg", 1)
    photo(tmp_path / "dir" / "x.png", 2)
    (tmp_path / "file").write_text("not a folder")
    return tmp_path / "dir"


AGE = ["-m", "identity", "-d", "older", "--whole-image"]


def output_is_input_cases(tmp: Path) -> list[tuple[list, str]]:
    d = tmp / "dir"
    return [
        (["translate", "identity", d / "face.png", d, "-d", "older"], "the result would replace this input"),
        (["translate", "identity", d / "face.png", d / "face.png", "-d", "older"], "would replace this input"),
        (["age", d, *AGE, "--out", d], "the result would replace this input"),
        (["age", d / "x.jpg", d / "x.png", *AGE, "--out", d], "the result of"),
        (["translate", "identity", d, d, "-d", "older"], "output is the input folder"),
        (["age", d / "face.png", *AGE, "--out", tmp / "o", "--report", d / "face.png"], "--report is an input"),
        (["age", d / "face.png", *AGE, "--out", d / "face.png"], "--out must be a folder"),
        (["age-sweep", d / "face.png", *AGE[:2], "--strengths", "0,1", "-d", "older", "--out", d / "face.png"],
         "--out is an input"),
        (["estimate-age", d / "face.png", "--json", d / "face.png"], "--json is an input"),
        (["evaluate", "identity", "--data", d, "--out", d], "--out is the input folder"),
        (["export", d, "--out", d], "--out is the input folder"),
        (["export", d, "--out", tmp / "m", "--checkpoint", d / "face.png"], None),
        (["train", "--data", d, "--out", d], "--out is the input folder"),
        (["train-age-estimator", "--data", d, "--out", d], "--out is the input folder"),
        (["prepare", "utkface", d, "--out", d], "--out is the input folder"),
        (["latent", "project", d / "face.png", "--out", d], "--out holds the input"),
        (["latent", "edit", "--direction", d, "--out", d / "x.png"], "must end in .mp4 or .gif"),
        (["latent", "edit", "--direction", d, "--out", d / "x.gif"], None),
        (["prepare", "generated", "--out", d, "--direction", d], "--out is the input folder"),
    ]  # fmt: skip


def test_an_output_never_replaces_an_input(tmp_path, folder, capsys):
    (folder / "x_sheet.png").write_bytes(b"sheet")  # latent edit's contact sheet beside x.gif
    before = hashes(folder)
    for args, message in output_is_input_cases(tmp_path):
        code, _, err = run_cli(args, capsys)
        line = one_error(err)
        assert code == 2, args
        if message is not None:
            assert message in line, (args, line)
        assert hashes(folder) == before, args
    assert not (tmp_path / "o").exists()  # refused before any work: not even the folder was made


def test_export_refuses_to_write_over_its_checkpoint(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    checkpoint = tmp_path / "model" / "model.safetensors"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"weights")
    args = [
        "export",
        tmp_path / "run",
        "--out",
        tmp_path / "model",
        "--checkpoint",
        checkpoint,
        "--overwrite",
    ]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "--out is an input file" in one_error(err)
    assert checkpoint.read_bytes() == b"weights"


def test_the_same_image_through_a_link_is_refused(tmp_path, folder, capsys):
    (tmp_path / "alias").symlink_to(folder, target_is_directory=True)
    os.link(folder / "face.png", tmp_path / "hard.png")
    before = hashes(folder)
    for target in (tmp_path / "alias" / "face.png", tmp_path / "hard.png"):
        code, _, err = run_cli(["translate", "identity", folder / "face.png", target, "-d", "older"], capsys)
        assert code == 2 and "input" in one_error(err)
    assert hashes(folder) == before


def test_colliding_names(tmp_path, folder, capsys):
    before = hashes(folder)
    code, _, err = run_cli(["translate", "identity", folder, tmp_path / "out", "-d", "older"], capsys)
    line = one_error(err)
    assert (
        code == 2 and "x.jpg and" in line and "x.png would both be written" in line and "rename one" in line
    )
    assert not (tmp_path / "out").exists()
    # `age` writes every photo flat into --out: the same two names collide there too
    code, _, err = run_cli(["age", folder, *AGE, "--out", tmp_path / "aged"], capsys)
    assert code == 2 and "x.jpg and" in one_error(err)
    assert not (tmp_path / "aged").exists() and hashes(folder) == before
    # into the input folder: allowed when no result lands on an input
    (folder / "x.png").unlink()
    code, out, err = run_cli(["age", folder / "x.jpg", *AGE, "--out", folder], capsys)
    assert code == 0 and (folder / "x.png").is_file() and "wrote 1 of 1 photo(s)" in out, err


#: Every command that writes, with its output location as ``{out}`` (``{dir}``: a folder of photos).
WRITING_COMMANDS = [
    ["translate", "identity", "{dir}", "{out}", "-d", "older"],
    ["age", "{dir}", *AGE, "--out", "{out}"],
    ["age", "{photo}", *AGE, "--out", "{tmp}/o", "--report", "{out}/r.json"],
    ["age", "{photo}", *AGE, "--out", "{tmp}/o", "--save-crops", "{out}"],
    ["age-sweep", "{photo}", "-m", "identity", "--strengths", "0,1", "-d", "older", "--out", "{out}/s.png"],
    ["estimate-age", "{photo}", "--json", "{out}/a.json"],
    ["evaluate", "identity", "--data", "{dir}", "--out", "{out}"],
    ["export", "{dir}", "--out", "{out}"],
    ["train", "--data", "{dir}", "--out", "{out}"],
    ["train-age-estimator", "--data", "{dir}", "--out", "{out}"],
    ["import-cyclegan", "{photo}", "--out", "{out}"],
    ["prepare", "utkface", "{dir}", "--out", "{out}"],
    ["prepare", "synthetic", "--out", "{out}"],
    ["prepare", "faces", "{dir}", "--out", "{out}"],
    ["prepare", "generated", "--out", "{out}"],
    ["latent", "fit-direction", "--out", "{out}"],
    ["latent", "edit", "--direction", "{dir}", "--out", "{out}/v.gif"],
    ["latent", "project", "{photo}", "--out", "{out}"],
    ["demo", "--out", "{out}"],
]


@pytest.mark.parametrize(
    "args",
    WRITING_COMMANDS,
    ids=lambda args: " ".join(arg for arg in args[:2] if not arg.startswith("{")),
)
@pytest.mark.parametrize("kind", ["existing file", "below a file", "unwritable"])
def test_unusable_output_locations_are_one_line_before_any_work(
    tmp_path, folder, capsys, monkeypatch, args, kind
):
    locked = tmp_path / "locked"
    locked.mkdir()
    out = {
        "existing file": tmp_path / "file",
        "below a file": tmp_path / "file" / "sub",
        "unwritable": locked / "o",
    }
    if kind == "unwritable":
        real_access = os.access
        monkeypatch.setattr(
            os, "access", lambda path, mode, **kw: Path(path) != locked and real_access(path, mode, **kw)
        )
    names = {"dir": folder, "out": out[kind], "photo": folder / "face.png", "tmp": tmp_path}
    before = hashes(tmp_path)
    code, _, err = run_cli([arg.format(**names) for arg in args], capsys)
    line = one_error(err)
    assert code == 2
    expected = {"unwritable": "not writable", "below a file": "is a file, not a folder"}.get(kind)
    if kind == "existing file":
        expected = (
            "is a file, not a folder" if "/" in args[-1] else "must be a folder, but it is an existing file"
        )
    assert expected in line, line
    assert hashes(tmp_path) == before
    assert list(locked.iterdir()) == []


def test_skipped_inputs_exit_1_and_nothing_done_exits_2(tmp_path, folder, capsys):
    (folder / "x.jpg").unlink()
    (folder / "broken.png").write_bytes(b"not an image")
    code, out, err = run_cli(["translate", "identity", folder, tmp_path / "t", "-d", "older"], capsys)
    assert code == 1 and "skipped: " in err and "broken.png" in err and "skipped 1 of 3" in err
    assert sorted(hashes(tmp_path / "t")) == ["face.png", "x.png"]
    code, out, err = run_cli(["age", folder, *AGE, "--out", tmp_path / "a"], capsys)
    assert code == 1 and "skipped 1 of 3" in err and "wrote 2 of 3 photo(s)" in err
    code, out, err = run_cli(["age", folder / "broken.png", *AGE, "--out", tmp_path / "b"], capsys)
    assert code == 2 and "no photo written" in err and "results in" not in out + err
    assert not (tmp_path / "b").exists()
    code, out, err = run_cli(
        ["translate", "identity", folder / "broken.png", tmp_path / "c.png", "-d", "older"], capsys
    )
    assert code == 2 and "nothing written" in err


def test_paths_with_brackets_are_printed_as_they_are(tmp_path, capsys):
    source = tmp_path / "b[red]x"
    photo(source / "[bold]face.png")
    (source / "[i]bad.png").write_bytes(b"garbage")
    code, out, err = run_cli(["translate", "identity", source, tmp_path / "o[b]ut", "-d", "older"], capsys)
    assert code == 1 and "b[red]x/[i]bad.png" in err and "o[b]ut" in err
    code, out, err = run_cli(["age", source, *AGE, "--out", tmp_path / "a[x]"], capsys)
    assert code == 1 and "[bold]face.png" in out and "[i]bad.png" in out and "b[red]x/[i]bad.png" in err
    code, _, err = run_cli(["translate", "identity", tmp_path / "[b]gone.png", tmp_path / "o.png"], capsys)
    assert code == 2 and "[b]gone.png: input does not exist" in one_error(err)


def test_a_file_system_failure_during_the_work_is_one_line(tmp_path, folder, capsys, monkeypatch):
    import errno

    import ageshift.io

    def disk_full(image, path, quality=95):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(ageshift.io, "save_image", disk_full)
    code, _, err = run_cli(["age", folder / "face.png", *AGE, "--out", tmp_path / "o"], capsys)
    assert code == 2 and one_error(err).endswith("face.png: No space left on device")


def test_earlier_results_inside_the_input_folder_are_not_inputs(tmp_path, folder, capsys):
    (folder / "x.jpg").unlink()
    for _ in range(2):  # the second run must not age the first run's results again
        code, out, err = run_cli(["age", folder, *AGE, "--out", folder / "aged"], capsys)
        assert code == 0 and "wrote 2 of 2 photo(s)" in out, err
    assert sorted(hashes(folder / "aged")) == ["face.png", "x.png"]
