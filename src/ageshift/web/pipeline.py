"""What the web page does with one upload, as plain functions with no Gradio in them.

``process`` reads the uploaded file with the same safe loader as the CLI, runs the same face pipeline
(``ageshift.faces.age_photo``) with the same ``Translator`` and condition keywords (``direction``, or
``target_age``/``attributes``, and ``strength``), and turns the result into what the page shows: the "before"
photo with the faces found marked, the "after" photo, a per-face table and a one-line message. Every user
mistake (no file, not an image, a condition the model does not accept, no face) becomes a friendly message,
never an exception. ``upscale`` ("upscale the face") runs a super-resolution model on each edited crop before
paste-back, through ``age_photo(upscaler=...)`` as ``ageshift age --upscale`` does.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from PIL import Image, ImageDraw

from ..errors import AgeshiftError
from ..io import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, load_image
from ..models.conditions import Condition, ConditionError

#: Column names of the per-face table, in order.
FACE_TABLE_COLUMNS = ("face", "x0", "y0", "x1", "y1", "width", "height", "score")
#: Longest side of the annotated "before" preview; the "after" image keeps the photo's full size.
PREVIEW_MAX_SIDE = 1600
_BOX_COLOURS = ((0, 230, 118), (255, 179, 0), (41, 182, 246), (236, 64, 122), (171, 71, 188))
#: The page's "upscale the face" choices: ``none`` (the default: no CPU cost), or a packaged ×4 model.
UPSCALE_CHOICES = ("none", "srresnet-x4", "realesrgan-x4", "srgan-x4")


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


def process(
    image: str | Path | Image.Image | None,
    direction: str | None = None,
    *,
    translator: Any,
    detector: Any = "mtcnn",
    mode: str = "faces",
    target_age: float | None = None,
    attributes: Mapping[str, str] | None = None,
    strength: float | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    upscale: str | Any | None = None,
    reference: str | Path | Image.Image | None = None,
) -> ProcessResult:
    """Edit one uploaded photo under one condition and prepare everything the page shows.

    Args:
        image: the uploaded file's path (decoded with ``ageshift.io.load_image``), a PIL image, or ``None``
            when nothing was uploaded.
        direction: for two-domain models, one of ``translator.conditions.directions`` (``"older"``).
        translator: the loaded model (``ageshift.load(...)``), shared with the CLI.
        detector: face detector name or object, passed to ``ageshift.faces.age_photo``.
        mode: ``"faces"`` (detect and translate each face) or ``"whole"`` (translate the whole picture).
        target_age: for models with an age range (``translator.conditions.age``).
        attributes: for models with attributes, e.g. ``{"hair": "blond"}``; attributes left out are kept.
        strength: ``[0, 1]``, how far from the input towards the condition; ``None`` means 1.
        max_pixels: refuse larger photos as possible decompression bombs.
        upscale: ``None`` or ``"none"``, a super-resolution model's name (:data:`UPSCALE_CHOICES`, or a model
            folder) or the loaded model: run on each edited face crop before paste-back (``mode="faces"``).
        reference: a makeup model's reference photo (one face; its makeup is copied), path or image.

    Returns:
        ``ProcessResult(annotated_before, after, faces_table, message)``; the images are RGB PIL images of the
        photo (the preview at most ``PREVIEW_MAX_SIDE`` pixels long), both ``None`` when nothing could be read.
        A condition the model does not accept gives the ``ConditionError``'s line as the message.
    """
    if image is None or (isinstance(image, str) and not image.strip()):
        return ProcessResult(None, None, [], "Please upload a photo first (JPEG, PNG, WebP, BMP or TIFF).")
    try:
        photo = _read_upload(image, max_pixels)
    except AgeshiftError as error:
        return ProcessResult(None, None, [], f"Could not read this file: {error}")
    if reference is not None and not (isinstance(reference, str) and not reference.strip()):
        try:
            from ..faces.makeup import bind_reference

            translator = bind_reference(translator, _read_upload(reference, max_pixels), detector)
        except AgeshiftError as error:
            return ProcessResult(
                draw_face_boxes(photo, []), None, [], f"Could not use the reference: {error}"
            )
    try:
        upscaler = resolve_upscaler(upscale, getattr(translator, "device", "cpu"))
    except AgeshiftError as error:
        return ProcessResult(draw_face_boxes(photo, []), None, [], f"Could not load the upscaler: {error}")
    try:
        after, faces, condition = run_pipeline(
            photo,
            translator,
            direction,
            detector=detector,
            mode=mode,
            target_age=target_age,
            attributes=attributes,
            strength=strength,
            upscaler=upscaler,
        )
    except ConditionError as error:
        return ProcessResult(draw_face_boxes(photo, []), None, [], str(error))
    except AgeshiftError as error:
        return ProcessResult(draw_face_boxes(photo, []), None, [], f"Could not process this photo: {error}")
    before = draw_face_boxes(photo, faces)
    message = _summary(condition, mode, faces)
    if upscaler is not None and faces and mode == "faces":
        message += f" Each face was upscaled with {_upscaler_name(upscale, upscaler)} before paste-back."
    elif upscaler is not None and mode == "whole":
        message += " (Upscaling the face applies to 'each face' only.)"
    return ProcessResult(before, after, faces_table(faces), message)


def resolve_upscaler(upscale: str | Any | None, device: Any = "cpu") -> Any:
    """The super-resolution model ``process`` runs on each face crop, or ``None`` for no upscaling.

    Args:
        upscale: ``None``/``"none"``, a packaged name (loaded once per process and device), a model folder, or a
            loaded :class:`~ageshift.models.superres.SuperResolver`.
        device: where a model given by name runs.

    Returns:
        The model, or ``None``.

    Raises:
        AgeshiftError: the name cannot be loaded (e.g. its package is not installed) or is not an SR model.
    """
    if upscale is None or (isinstance(upscale, str) and upscale.strip().lower() in ("", "none")):
        return None
    from ..models.superres.resolver import PACKAGED, SuperResolver

    if isinstance(upscale, str):
        name = upscale.strip()
        model = _packaged_upscaler(name, str(device)) if name in PACKAGED else _load_model(name, device)
    else:
        model = upscale
    if not isinstance(model, SuperResolver):
        raise AgeshiftError(f"{upscale}: is a {model.family} model, not a super-resolution model")
    return model


@functools.lru_cache(maxsize=len(UPSCALE_CHOICES))
def _packaged_upscaler(name: str, device: str) -> Any:
    """A packaged model ported once per process (failures are not cached, so installing the package helps)."""
    return _load_model(name, device)


def _load_model(name: str, device: Any) -> Any:
    from ..models.translator import load

    return load(name, device=device)


def _upscaler_name(upscale: Any, upscaler: Any) -> str:
    return (
        upscale.strip() if isinstance(upscale, str) else str(upscaler.metadata.get("name") or "the upscaler")
    )


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
    direction: str | None = None,
    *,
    detector: Any = "mtcnn",
    mode: str = "faces",
    target_age: float | None = None,
    attributes: Mapping[str, str] | None = None,
    strength: float | None = None,
    upscaler: Any = None,
) -> tuple[Image.Image, list[FaceRow], Condition]:
    """Run the library's face pipeline on a decoded photo; the web layer's only call into the models.

    Args:
        photo: RGB PIL image.
        translator: the loaded model.
        direction, target_age, attributes, strength: the condition, checked by ``translator.condition``.
        detector: face detector name or object (``mode="faces"`` only).
        mode: ``"faces"`` or ``"whole"``.
        upscaler: a super-resolution model run on each edited crop before paste-back, or ``None``.

    Returns:
        The translated photo (same size as ``photo``), the faces found (largest first) and the condition
        the model ran under.

    Raises:
        ConditionError: the model does not accept the condition (one line naming what it accepts).
    """
    from ..faces import age_photo

    result = age_photo(
        photo,
        translator,
        direction,
        target_age=target_age,
        attributes=attributes,
        strength=strength,
        detector=detector,
        mode=mode,
        upscaler=upscaler,
    )
    rows = [FaceRow(tuple(face.detection.box), float(face.detection.score)) for face in result.faces]
    assert result.condition is not None  # age_photo records the condition it resolved
    return result.image, rows, result.condition


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
        preview = preview.resize(
            (round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS
        )
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


def _summary(condition: Condition, mode: str, faces: Sequence[FaceRow]) -> str:
    """The one-line message under the images, in the condition's own words (``"age 70, hair=blond"``)."""
    if mode == "whole":
        return f"Done: the whole picture was changed: {condition.label()}."
    if not faces:
        return (
            "No face was found in this photo, so nothing was changed. Try a photo where a face is clearly "
            "visible (frontal, not too small), or choose 'whole picture' to translate the entire image."
        )
    noun = "face" if len(faces) == 1 else "faces"
    return f"Done: {len(faces)} {noun} found and changed: {condition.label()} (marked on the left, listed below)."
