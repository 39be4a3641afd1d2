"""The web page's behaviour without a browser: ``process`` on real photos and bad uploads, settings, CLI."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import ageshift
from ageshift.cli import main
from ageshift.errors import ConfigError
from ageshift.web import FACE_TABLE_COLUMNS, ServeSettings, process
from ageshift.web.pipeline import PREVIEW_MAX_SIDE, FaceRow, draw_face_boxes, faces_table, supports_strength

pytest.importorskip("onnxruntime", reason="face detection needs ageshift[faces]")
skimage_data = pytest.importorskip("skimage.data", reason="test photos come from scikit-image")


@pytest.fixture(scope="module")
def identity() -> ageshift.Translator:
    return ageshift.load("identity")


@pytest.fixture(scope="module")
def detector():
    from ageshift.faces import create_detector

    return create_detector("mtcnn")


@pytest.fixture
def astronaut_png(tmp_path):
    path = tmp_path / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(path)
    return path


def test_astronaut_upload_gives_same_size_result_with_one_face(astronaut_png, identity, detector):
    result = process(str(astronaut_png), "older", translator=identity, detector=detector)
    photo = np.asarray(Image.open(astronaut_png).convert("RGB"), dtype=np.float64)
    assert result.after.size == result.annotated_before.size == (512, 512)
    after = np.asarray(result.after, dtype=np.float64)
    # The identity model must give the photo back: only blending round-off near the face may differ.
    psnr = 10 * np.log10(255**2 / max(np.mean((after - photo) ** 2), 1e-12))
    assert psnr > 40
    assert len(result.faces_table) == 1
    number, x0, y0, x1, y1, width, height, score = result.faces_table[0]
    assert number == 1 and score > 0.9
    # The astronaut's face sits around x 180–270, y 60–175.
    assert 150 < x0 < x1 < 300 and 30 < y0 < y1 < 210 and width == x1 - x0 and height == y1 - y0
    assert "1 face found" in result.message
    # The box is drawn on the preview, not on the result.
    before = np.asarray(result.annotated_before, dtype=np.float64)
    assert np.abs(before - photo).max() > 100
    assert not np.array_equal(before, after)


def test_photo_without_faces_is_returned_unchanged_with_a_friendly_message(tmp_path, identity, detector):
    path = tmp_path / "coffee.jpg"
    Image.fromarray(skimage_data.coffee()).save(path, quality=95)
    result = process(path, "younger", translator=identity, detector=detector)
    assert result.faces_table == []
    assert "No face was found" in result.message and "whole picture" in result.message
    original = np.asarray(Image.open(path).convert("RGB"))
    assert np.array_equal(np.asarray(result.after), original)


def test_whole_picture_mode_translates_without_detection(astronaut_png, identity):
    result = process(astronaut_png, "older", translator=identity, detector="no-such-detector", mode="whole")
    assert result.after.size == (512, 512) and result.faces_table == []
    assert "whole picture" in result.message


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("corrupt.png", b"\x89PNG\r\n\x1a\n this is not really a png", "not an image file, or a corrupt one"),
        ("empty.jpg", b"", "is empty"),
        ("notes.txt", b"hello", "not a supported image type"),
        ("fake.jpg", b"GIF89a" + bytes(64), "Could not read this file"),
    ],
)
def test_bad_uploads_give_a_message_naming_the_file(tmp_path, identity, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    result = process(str(path), "older", translator=identity)
    assert result.after is None and result.annotated_before is None and result.faces_table == []
    assert expected in result.message and name in result.message
    # Server temp folders are not shown to the person.
    assert str(tmp_path) not in result.message
    assert path.read_bytes() == content


@pytest.mark.parametrize("upload", [None, "", "   "])
def test_no_upload_asks_for_a_photo(identity, upload):
    result = process(upload, "older", translator=identity)
    assert result.after is None and "upload a photo" in result.message


def test_unknown_direction_and_mode_become_messages(astronaut_png, identity):
    wrong_direction = process(astronaut_png, "sideways", translator=identity)
    assert wrong_direction.after is None and "sideways" in wrong_direction.message
    assert wrong_direction.annotated_before.size == (512, 512)
    wrong_mode = process(astronaut_png, "older", translator=identity, mode="pets")
    assert wrong_mode.after is None and "pets" in wrong_mode.message


def test_oversized_photo_is_refused_by_pixel_limit(astronaut_png, identity):
    result = process(astronaut_png, "older", translator=identity, max_pixels=100_000)
    assert result.after is None and "decompression bomb" in result.message


def test_preview_is_bounded_and_boxes_are_drawn_where_the_faces_are():
    photo = Image.new("RGB", (4000, 2000), (10, 10, 10))
    preview = draw_face_boxes(photo, [FaceRow((1000, 500, 2000, 1500), 0.99)])
    assert max(preview.size) == PREVIEW_MAX_SIDE and preview.size == (1600, 800)
    pixels = np.asarray(preview)
    # The box edges map to x 400..800, y 200..600 at the preview's scale.
    assert pixels[400, 401].max() > 100 and pixels[400, 600].max() < 50
    assert np.asarray(photo).max() == 10


def test_faces_table_rows_follow_the_columns():
    rows = faces_table([FaceRow((10.4, 20.6, 50.5, 80.2), 0.98765), FaceRow((1, 2, 3, 4), 0.5)])
    assert rows == [[1, 10, 21, 50, 80, 40, 59, 0.988], [2, 1, 2, 3, 4, 2, 2, 0.5]]
    assert all(len(row) == len(FACE_TABLE_COLUMNS) for row in rows)


def test_strength_is_offered_only_when_the_model_takes_it(identity):
    class WithStrength:
        directions = ("older",)

        def translate(self, image, direction="older", strength=1.0):
            return image

    assert not supports_strength(identity)
    assert supports_strength(WithStrength())


@pytest.mark.parametrize(
    "options",
    [
        {"max_upload_mb": 0},
        {"port": 70000},
        {"max_queue": 0},
        {"concurrency": 0},
        {"cache_seconds": 0},
        {"max_pixels": 0},
    ],
)
def test_bad_settings_are_refused(options):
    with pytest.raises(ConfigError, match=next(iter(options))):
        ServeSettings(**options)


def test_settings_default_to_loopback_and_a_bounded_upload():
    settings = ServeSettings()
    assert settings.host == "127.0.0.1" and settings.max_upload_bytes == 20 * 1024 * 1024


def test_serve_with_a_missing_model_is_one_line_exit_2(tmp_path, capsys):
    pytest.importorskip("gradio", reason="the page needs ageshift[web]")
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--model", str(tmp_path / "nope"), "--port", "7999"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "nope" in error and "does not exist" in error and "Traceback" not in error


def test_serve_refuses_bad_upload_limit_before_loading(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--model", "identity", "--max-upload-mb", "-1"])
    assert exit_info.value.code == 2
    assert "max_upload_mb" in capsys.readouterr().err


def test_page_offers_only_what_the_model_supports_and_bounds_its_queue(identity):
    pytest.importorskip("gradio", reason="the page needs ageshift[web]")
    from ageshift.io import IMAGE_SUFFIXES
    from ageshift.web import build_app

    blocks = build_app(identity, ServeSettings(max_queue=3, cache_seconds=60))
    parts = {part.elem_id: part for part in blocks.blocks.values() if getattr(part, "elem_id", None)}
    assert [value for _, value in parts["direction"].choices] == list(identity.directions)
    assert parts["strength"].visible is False
    assert set(parts["upload"].file_types) == set(IMAGE_SUFFIXES)
    assert blocks._queue.max_size == 3 and blocks.delete_cache == (60, 60)
    assert blocks.analytics_enabled is False
