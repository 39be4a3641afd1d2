"""``ageshift age`` and ``ageshift prepare faces`` end to end: photos as they come, reports, crops, datasets,
and every bad input as one named error line (exit 2)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import run_cli

# Tiny networks: one torch thread (see the fixture in conftest.py).
pytestmark = pytest.mark.usefixtures("one_torch_thread")

skimage_data = pytest.importorskip("skimage.data")
matplotlib = pytest.importorskip("matplotlib")


run = run_cli


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def astronaut(side: int = 320) -> Image.Image:
    return Image.fromarray(skimage_data.astronaut()).resize((side, side), Image.Resampling.LANCZOS)


def photos_as_they_come(folder: Path) -> dict[str, tuple[int, int]]:
    """Write one face photo in many modes; returns file name → expected output size."""
    folder.mkdir()
    face = astronaut()
    face.convert("CMYK").save(folder / "cmyk.jpg")
    face.convert("L").save(folder / "gray.jpg")
    gray16 = (np.asarray(face.convert("L"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(folder / "deep16.png")
    rgba = face.convert("RGBA")
    rgba.putalpha(Image.new("L", face.size, 255).crop((0, 0, 320, 320)))
    rgba.save(folder / "alpha.png")
    face.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png", transparency=0)
    wide = Image.new("RGB", (480, 320), (200, 180, 160))
    wide.paste(face, (80, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter left; viewers turn it back upright
    wide.transpose(Image.Transpose.ROTATE_90).save(folder / "rotated.jpg", exif=exif)
    return {"cmyk": (320, 320), "gray": (320, 320), "deep16": (320, 320), "alpha": (320, 320),
            "palette": (320, 320), "rotated": (480, 320)}  # fmt: skip


def test_age_folder_of_photos_as_they_come(tmp_path, capsys):
    expected = photos_as_they_come(tmp_path / "in")
    before = {p.name: digest(p) for p in (tmp_path / "in").iterdir()}
    code, out, err = run(
        ["age", tmp_path / "in", "--model", "identity", "--direction", "older", "--out", tmp_path / "out",
         "--report", tmp_path / "faces.json", "--save-crops", tmp_path / "crops"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert {p.name: digest(p) for p in (tmp_path / "in").iterdir()} == before
    report = json.loads((tmp_path / "faces.json").read_text())
    by_name = {Path(photo["input"]).stem: photo for photo in report["photos"]}
    for name, size in expected.items():
        with Image.open(tmp_path / "out" / f"{name}.png") as written:
            assert written.size == size, name
        assert len(by_name[name]["faces"]) == 1, name
        assert by_name[name]["faces"][0]["score"] > 0.9
    assert len(list((tmp_path / "crops").glob("*_input.png"))) == len(expected)
    assert "faces" in out and "rotated" in out


def test_age_whole_image_and_box_for_a_cat(tmp_path, capsys):
    cat = tmp_path / "cat.png"
    Image.fromarray(skimage_data.chelsea()).save(cat)
    code, out, _ = run(
        ["age", cat, "-m", "identity", "-d", "younger", "--out", tmp_path / "w", "--whole-image"], capsys
    )
    assert code == 0 and "whole image" in out
    with Image.open(tmp_path / "w" / "cat.png") as written:
        assert written.size == (451, 300)
    code, _, _ = run(["age", cat, "-m", "identity", "-d", "younger", "--out", tmp_path / "b", "--box", "140,20,300,180",
                      "--report", tmp_path / "r.json"], capsys)  # fmt: skip
    assert code == 0
    assert json.loads((tmp_path / "r.json").read_text())["photos"][0]["faces"][0]["source"] == "box"


def write_gif(path: Path) -> None:
    astronaut(64).save(path, format="GIF")  # a real picture, but not an allowed format


def write_bomb(path: Path) -> None:
    Image.new("1", (12000, 9000)).save(path)  # 108 megapixels, a few kilobytes


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("not a photo"), "not an image file"),
        (lambda p: p.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40), "cannot decode|not an image"),
        (write_bomb, "decompression bomb"),
        (write_gif, "format GIF is not supported"),
    ],
    ids=["text", "truncated", "bomb", "gif"],
)
def test_bad_photos_are_one_named_line(tmp_path, capsys, make, message):
    path = tmp_path / {write_bomb: "bad.png", write_gif: "bad.gif"}.get(make, "bad.jpg")
    make(path)
    code, _, err = run(["age", path, "-m", "identity", "-d", "older", "--out", tmp_path / "out"], capsys)
    assert code == 2 and "bad." in err and "Traceback" not in err
    assert __import__("re").search(message, err)


def test_one_bad_file_does_not_stop_a_folder(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    astronaut(200).save(tmp_path / "in" / "good.jpg")
    (tmp_path / "in" / "broken.png").write_bytes(b"garbage")
    code, out, err = run(
        ["age", tmp_path / "in", "-m", "identity", "-d", "older", "--out", tmp_path / "out"], capsys
    )
    assert code == 1 and "1 of 2" in err and "broken.png" in err  # finished, one skipped: exit 1
    assert (tmp_path / "out" / "good.png").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--box", "1,2,3"], "x0,y0,x1,y1"),
        (["--box", "1,2,3,4", "--whole-image"], "exclude"),
        (["--detector", "haar"], "'haar'"),
        (["--direction", "sideways"], "sideways"),
        (["--model", "no/such/model"], "does not exist"),
    ],
)
def test_bad_options_are_one_named_line(tmp_path, capsys, extra, message):
    photo = tmp_path / "p.png"
    astronaut(64).save(photo)
    args = ["age", photo, "-m", "identity", "-d", "older", "--out", tmp_path / "out", *extra]
    code, _, err = run(args, capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_prepare_faces_builds_an_aligned_dataset(tmp_path, capsys):
    young, old, data = tmp_path / "young", tmp_path / "old", tmp_path / "data"
    young.mkdir(), old.mkdir()
    astronaut(400).save(young / "astronaut.jpg")
    Image.fromarray(skimage_data.coffee()).save(young / "coffee.jpg")
    grace = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    (old / "grace.jpg").write_bytes(grace.read_bytes())
    common = ["--template", "utkface", "--size", "64", "--padding", "0.1", "--test-fraction", "0"]
    assert run(["prepare", "faces", young, "--out", data, "--domain", "A", *common], capsys)[0] == 0
    code, out, _ = run(
        ["prepare", "faces", old, "--out", data, "--domain", "B", "--label", "age 70+", *common], capsys
    )
    assert code == 0 and "1 face crops from 1 photos" in out
    rows = list(csv.DictReader((data / "manifest.csv").open()))
    assert sorted(row["file"] for row in rows) == ["trainA/astronaut_face0.png", "trainB/grace_face0.png"]
    with Image.open(data / rows[0]["file"]) as crop:
        assert crop.size == (64, 64)
    described = json.loads((data / "dataset.json").read_text())
    assert described["crop"] == {"template": "utkface", "size": 64, "padding": 0.1}
    assert described["domains"]["B"]["label"] == "age 70+" and described["image_size"] == 64
    code, _, err = run(["prepare", "faces", old, "--out", data, "--domain", "B", "--size", "128"], capsys)
    assert code == 2 and "aligned with" in err
    code, _, err = run(["prepare", "faces", old, "--out", old / "inside"], capsys)
    assert code == 2 and "inside the source" in err


def test_missing_inputs_are_named(tmp_path, capsys):
    code, _, err = run(["age", tmp_path / "nope.jpg", "-m", "identity", "-d", "older"], capsys)
    assert code == 2 and "nope.jpg: no such file or folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(["age", tmp_path / "empty", "-m", "identity", "-d", "older"], capsys)
    assert code == 2 and "no images found" in err
    code, _, err = run(["prepare", "faces", tmp_path / "empty", "--out", tmp_path / "data"], capsys)
    assert code == 2 and "no images found" in err
    code, _, err = run(
        ["prepare", "faces", tmp_path / "empty", "--out", tmp_path / "d", "--template", "celeba"], capsys
    )
    assert code == 2 and "'celeba'" in err


def test_age_with_an_exported_model_aligns_as_it_was_trained(tmp_path, capsys):
    import ageshift
    from ageshift.config import to_dict
    from ageshift.models.translator import TwoDomainTranslator

    network = ageshift.create_model("cyclegan", preset="fast")
    crop = {"template": "utkface", "size": 64, "padding": 0.1}
    TwoDomainTranslator(
        network.generators(), "cyclegan", to_dict(network.config), 64, {"crop": crop}
    ).save_pretrained(tmp_path / "model")
    photo = tmp_path / "astronaut.jpg"
    astronaut(256).save(photo)
    args = ["age", photo, "-m", tmp_path / "model", "-d", "younger", "--out", tmp_path / "out"]
    code, _, err = run([*args, "--save-crops", tmp_path / "crops", "--color-match"], capsys)
    assert code == 0, err
    with Image.open(tmp_path / "crops" / "astronaut_face0_younger.png") as translated:
        assert translated.size == (64, 64)
    with Image.open(tmp_path / "out" / "astronaut.png") as written:
        assert written.size == (256, 256)
