"""``ageshift.outputs``: outputs never replace inputs, collisions and unwritable places are refused up front,
writes are atomic; and ``ageshift.io``'s pixel limit is the documented one, not Pillow's."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from PIL import Image

from ageshift.errors import AgeshiftError, ImageLoadError
from ageshift.files import plan_translation
from ageshift.io import DEFAULT_MAX_PIXELS, load_image
from ageshift.outputs import (
    InputsSkipped,
    OutputError,
    OutputPlan,
    atomic_write,
    check_file_writable,
    check_folder_writable,
    refuse_inputs_inside,
    refuse_same_folder,
    write_json,
)

as_root = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def make(path: Path, data: bytes = b"input") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_an_input_is_never_claimed_as_an_output(tmp_path):
    photo = make(tmp_path / "face.png")
    plan = OutputPlan([photo])
    with pytest.raises(OutputError, match="is an input file|is the input"):
        plan.claim(tmp_path / "face.png")
    with pytest.raises(OutputError, match="is an input file|is the input"):
        plan.claim(tmp_path / "sub" / ".." / "face.png")  # the same file spelled differently
    assert plan.claim(tmp_path / "face-older.png") == tmp_path / "face-older.png"


def test_links_to_an_input_are_inputs(tmp_path):
    photo = make(tmp_path / "face.png")
    (tmp_path / "link.png").symlink_to(photo)
    os.link(photo, tmp_path / "hard.png")
    (tmp_path / "folder-link").symlink_to(tmp_path, target_is_directory=True)
    plan = OutputPlan([photo])
    for alias in ("link.png", "hard.png", "folder-link/face.png"):
        with pytest.raises(OutputError, match="input"):
            plan.claim(tmp_path / alias)


def test_the_result_of_another_input_is_named(tmp_path):
    first, second = make(tmp_path / "x.jpg"), make(tmp_path / "x.png")
    with pytest.raises(OutputError, match="the result of .*x.jpg would replace the input .*x.png"):
        OutputPlan([first, second]).claim(second, first)


def test_two_inputs_to_one_output_are_named_in_the_refusal(tmp_path):
    first, second = make(tmp_path / "x.jpg"), make(tmp_path / "x.png")
    plan = OutputPlan([first, second])
    plan.claim(tmp_path / "out" / "x.png", first)
    with pytest.raises(OutputError) as refused:
        plan.claim(tmp_path / "out" / "x.png", second)
    message = str(refused.value)
    assert "x.jpg" in message and "x.png" in message and "rename one" in message and "\n" not in message


def test_folder_checks_happen_without_creating_anything(tmp_path):
    make(tmp_path / "file")
    with pytest.raises(OutputError, match="must be a folder, but it is an existing file"):
        check_folder_writable(tmp_path / "file")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_folder_writable(tmp_path / "file" / "below")
    assert check_folder_writable(tmp_path / "new" / "deep") == tmp_path / "new" / "deep"
    assert not (tmp_path / "new").exists()


def test_file_checks(tmp_path):
    (tmp_path / "folder").mkdir()
    make(tmp_path / "file")
    with pytest.raises(OutputError, match="is a folder"):
        check_file_writable(tmp_path / "folder", "--report")
    with pytest.raises(OutputError, match="--json.*is a file, not a folder"):
        check_file_writable(tmp_path / "file" / "r.json", "--json")
    assert check_file_writable(tmp_path / "new" / "r.json") == tmp_path / "new" / "r.json"


@pytest.mark.skipif(as_root, reason="root may write into any folder")
def test_an_unwritable_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="not writable"):
            check_folder_writable(locked / "out", "--out")
        with pytest.raises(OutputError, match="not writable"):
            check_file_writable(locked / "r.json", "--report")
    finally:
        locked.chmod(0o755)


def test_an_unwritable_folder_is_refused_whoever_runs(tmp_path, monkeypatch):
    """The same check when the tests run as root (which may write anywhere): ``os.access`` says no."""
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(OutputError, match="not writable; choose another --out"):
        check_folder_writable(tmp_path / "out", "--out")
    with pytest.raises(OutputError, match="not writable"):
        check_file_writable(tmp_path / "r.json", "--report")


def test_same_and_nested_folders(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(OutputError, match="is the input folder"):
        refuse_same_folder(data / ".", [data])
    refuse_same_folder(data / "report", [data])  # inside is fine unless asked
    with pytest.raises(OutputError, match="inside the input folder"):
        refuse_same_folder(data / "report", [data], nested=True)
    with pytest.raises(OutputError, match="holds the input"):
        refuse_inputs_inside(tmp_path, [make(tmp_path / "photo.jpg")])


def test_atomic_write_keeps_the_old_file_on_a_crash(tmp_path):
    target = make(tmp_path / "out.json", b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as stream:
        stream.write(b"half")
        raise RuntimeError("crash")
    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["out.json"]  # no temporary left behind
    write_json(target, {"path": Path("ü[x]")})
    assert target.read_text(encoding="utf-8") == '{\n  "path": "\\u00fc[x]"\n}'


def test_inputs_skipped_is_exit_code_1():
    error = InputsSkipped(1, 3, "a.png: corrupt", "wrote 2 image(s) to out")
    assert isinstance(error, AgeshiftError) and error.exit_code == 1
    assert str(error) == "skipped 1 of 3 input(s); wrote 2 image(s) to out; first: a.png: corrupt"


def test_plan_translation_refuses_every_way_to_lose_an_input(tmp_path):
    folder = tmp_path / "dir"
    make(folder / "face.png")
    with pytest.raises(OutputError, match="the result would replace this input"):
        plan_translation(folder / "face.png", folder)  # OUTPUT is the folder holding the input
    with pytest.raises(OutputError, match="output is the input folder"):
        plan_translation(folder, folder)
    make(folder / "x.jpg"), make(folder / "x.png")
    with pytest.raises(OutputError, match="x.jpg and .*x.png would both be written"):
        plan_translation(folder, tmp_path / "out")
    with pytest.raises(OutputError, match="must be a folder"):
        plan_translation(folder, make(tmp_path / "file.png"))


def test_plan_translation_mirrors_and_ignores_earlier_results_inside(tmp_path):
    folder = tmp_path / "dir"
    make(folder / "a.jpg"), make(folder / "sub" / "b.png"), make(folder / "out" / "a.png")
    pairs = plan_translation(folder, folder / "out")
    assert [(s.relative_to(folder).as_posix(), t.relative_to(folder).as_posix()) for s, t in pairs] == [
        ("a.jpg", "out/a.png"),
        ("sub/b.png", "out/sub/b.png"),
    ]


def test_the_pixel_limit_is_ours_not_pillows(tmp_path, monkeypatch):
    """Pillow refuses above its own MAX_IMAGE_PIXELS (89.5 MP by default); ``max_pixels`` must decide alone."""
    Image.new("1", (50, 40)).save(tmp_path / "small.png")  # 2000 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # Pillow's limit far below ours, as 89.5 < 100 MP
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(tmp_path / "small.png", max_pixels=2000).size == (50, 40)
        assert load_image(tmp_path / "small.png", max_pixels=None).size == (50, 40)
    with pytest.raises(ImageLoadError, match="over the limit of 0.001"):
        load_image(tmp_path / "small.png", max_pixels=1999)
    assert Image.MAX_IMAGE_PIXELS == 500  # restored


def test_the_default_limit_is_100_megapixels():
    assert DEFAULT_MAX_PIXELS == 100_000_000
