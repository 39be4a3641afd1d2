"""What the web page does with one upload, as plain functions with no Gradio in them.

``process`` reads the uploaded file with the same safe loader as the CLI, runs the same face pipeline
(``ageshift.faces.age_photo``) with the same ``Translator``, and turns the result into what the page shows:
the "before" photo with the faces found marked, the "after" photo, a per-face table and a one-line message.
Every user mistake (no file, not an image, no face) becomes a friendly message, never an exception.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from PIL import Image, ImageDraw

from ..errors import AgeshiftError
from ..io import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, load_image

#: Column names of the per-face table, in order.
FACE_TABLE_COLUMNS = ("face", "x0", "y0", "x1", "y1", "width", "height", "score")
#: Longest side of the annotated "before" preview; the "after" image keeps the photo's full size.
PREVIEW_MAX_SIDE = 1600
_BOX_COLOURS = ((0, 230, 118), (255, 179, 0), (41, 182, 246), (236, 64, 122), (171, 71, 188))


class ProcessResult(NamedTuple):
    """What the page shows after one click: ``(annotated_before, after, faces_table, message)``."""

    annotated_before: Image.Image | None
    after: Image.Image | None
    faces_table: list[list[Any]]
    message: str


@dataclass(frozen=True)
class FaceRow:
    """One found face as the page lists it: box in image pixels and the detector's confidence."""

    box: tuple[float, float, float, float]
    score: float


def supports_strength(translator: Any) -> bool:
    """Whether ``translator.translate`` accepts a ``strength`` argument (CycleGAN models do not).

    Args:
        translator: a loaded ``Translator``.

    Returns:
        True when the page should offer a strength slider.
    """
    try:
        return "strength" in inspect.signature(translator.translate).parameters
    except (TypeError, ValueError):
        return False


def process(
    image: str | Path | Image.Image | None,
    direction: str,
    *,
    translator: Any,
    detector: Any = "mtcnn",
    mode: str = "faces",
    strength: float | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> ProcessResult:
    """Age one uploaded photo and prepare everything the page shows.

    Args:
        image: the uploaded file's path (decoded with ``ageshift.io.load_image``), a PIL image, or ``None``
            when nothing was uploaded.
        direction: ``"older"`` or ``"younger"`` (one of ``translator.directions``).
        translator: the loaded model (``ageshift.load(...)``), shared with the CLI.
        detector: face detector name or object, passed to ``ageshift.faces.age_photo``.
        mode: ``"faces"`` (detect and translate each face) or ``"whole"`` (translate the whole picture).
        strength: how strongly to apply the model, only for models whose ``translate`` takes it.
        max_pixels: refuse larger photos as possible decompression bombs.

    Returns:
        ``ProcessResult(annotated_before, after, faces_table, message)``; the images are RGB PIL images of the
        photo (the preview at most ``PREVIEW_MAX_SIDE`` pixels long), both ``None`` when nothing could be read.
    """
    if image is None or (isinstance(image, str) and not image.strip()):
        return ProcessResult(None, None, [], "Please upload a photo first (JPEG, PNG, WebP, BMP or TIFF).")
    try:
        photo = _read_upload(image, max_pixels)
    except AgeshiftError as error:
        return ProcessResult(None, None, [], f"Could not read this file: {error}")
    try:
        after, faces = run_pipeline(
            photo, translator, direction, detector=detector, mode=mode, strength=strength
        )
    except AgeshiftError as error:
        return ProcessResult(draw_face_boxes(photo, []), None, [], f"Could not process this photo: {error}")
    before = draw_face_boxes(photo, faces)
    return ProcessResult(before, after, faces_table(faces), _summary(direction, mode, faces))


def _read_upload(image: str | Path | Image.Image, max_pixels: int | None) -> Image.Image:
    """Decode an upload with the CLI's loader, naming the file by its own name rather than a temp path."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    path = Path(image)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise AgeshiftError(
            f"'{path.name}' is not a supported image type (use one of {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    if path.is_file() and path.stat().st_size == 0:
        raise AgeshiftError(f"'{path.name}' is empty (0 bytes)")
    try:
        return load_image(path, max_pixels=max_pixels)
    except AgeshiftError as error:
        # Upload paths are server temp folders: the person only needs their own file name.
        raise AgeshiftError(str(error).replace(str(path), f"'{path.name}'")) from None


def run_pipeline(
    photo: Image.Image,
    translator: Any,
    direction: str,
    *,
    detector: Any = "mtcnn",
    mode: str = "faces",
    strength: float | None = None,
) -> tuple[Image.Image, list[FaceRow]]:
    """Run the library's face pipeline on a decoded photo; the web layer's only call into the models.

    Args:
        photo: RGB PIL image.
        translator: the loaded model.
        direction: ``"older"`` or ``"younger"``.
        detector: face detector name or object (``mode="faces"`` only).
        mode: ``"faces"`` or ``"whole"``.
        strength: passed on only when not ``None`` (models that support it).

    Returns:
        The translated photo (same size as ``photo``) and the faces found, largest first.
    """
    from ..faces import age_photo

    options: dict[str, Any] = {"strength": strength} if strength is not None else {}
    result = age_photo(photo, translator, direction, detector=detector, mode=mode, **options)
    rows = [FaceRow(tuple(face.detection.box), float(face.detection.score)) for face in result.faces]
    return result.image, rows


def faces_table(faces: Sequence[FaceRow]) -> list[list[Any]]:
    """Rows of the per-face table (columns ``FACE_TABLE_COLUMNS``), one per face, numbered from 1.

    Args:
        faces: the faces found, in the order they are numbered on the "before" image.

    Returns:
        A list of ``[number, x0, y0, x1, y1, width, height, score]`` rows; pixels rounded to integers.
    """
    rows = []
    for number, face in enumerate(faces, start=1):
        x0, y0, x1, y1 = (round(v) for v in face.box)
        rows.append([number, x0, y0, x1, y1, x1 - x0, y1 - y0, round(face.score, 3)])
    return rows


def draw_face_boxes(photo: Image.Image, faces: Sequence[FaceRow]) -> Image.Image:
    """A preview copy of ``photo`` with each face's box drawn and numbered as in the table.

    Args:
        photo: RGB PIL image (not modified).
        faces: boxes in ``photo``'s pixels.

    Returns:
        An RGB image at most ``PREVIEW_MAX_SIDE`` pixels on its longer side.
    """
    scale = min(1.0, PREVIEW_MAX_SIDE / max(photo.size))
    preview = photo.convert("RGB")
    if scale < 1.0:
        preview = preview.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS)
    else:
        preview = preview.copy()
    draw = ImageDraw.Draw(preview)
    line_width = max(2, round(max(preview.size) / 250))
    for number, face in enumerate(faces, start=1):
        colour = _BOX_COLOURS[(number - 1) % len(_BOX_COLOURS)]
        x0, y0, x1, y1 = (v * scale for v in face.box)
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=line_width)
        label = str(number)
        font_size = max(16, line_width * 8)
        left, top, right, bottom = draw.textbbox((0, 0), label, font_size=font_size)
        label_y = y0 - (bottom - top) - 2 * line_width if y0 > (bottom - top) + 2 * line_width else y0
        draw.rectangle(
            (x0, label_y, x0 + right - left + 2 * line_width, label_y + bottom + line_width), fill=colour
        )
        draw.text((x0 + line_width, label_y), label, fill=(0, 0, 0), font_size=font_size)
    return preview


def _summary(direction: str, mode: str, faces: Sequence[FaceRow]) -> str:
    """The one-line message under the images."""
    if mode == "whole":
        return f"Done: the whole picture was made {direction}."
    if not faces:
        return (
            "No face was found in this photo, so nothing was changed. Try a photo where a face is clearly "
            "visible (frontal, not too small), or choose 'whole picture' to translate the entire image."
        )
    noun = "face" if len(faces) == 1 else "faces"
    return f"Done: {len(faces)} {noun} found and made {direction} (marked on the left, listed below)."
