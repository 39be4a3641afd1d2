"""The time-machine strip: the same face at several ages (or strengths), as a PNG strip, a GIF or an MP4.

Faces are detected once; every condition is then applied to the same aligned crops and pasted back, so the
frames differ only by the edit. Each frame is the region around the largest face (or the whole photo),
captioned with its condition and, when a judge is given, the age it measures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw, ImageFont

from ..errors import AgeshiftError
from .detect import detect_faces
from .types import FaceDetector, filter_detections

if TYPE_CHECKING:
    from ..models.translator import Translator

STRIP_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".mp4")
#: the most frames one sweep makes (each is a model run); a range that asks for more is refused.
MAX_SWEEP_VALUES = 1000


class NoFaceError(AgeshiftError):
    """The photo of a sweep holds no face the detector finds."""


@dataclass
class SweepFrame:
    """One condition's result: the frame shown, its caption, and the request that made it."""

    image: Image.Image
    caption: str
    request: dict[str, Any]


def parse_number_list(text: str, option: str) -> list[float]:
    """``"20,30,40"`` or ``"20-80:10"`` (start-stop:step, inclusive) as a list of numbers."""
    text = text.strip()
    try:
        if ":" in text and "-" in text.split(":")[0][1:]:
            span, step_text = text.split(":")
            start_text, stop_text = span.split("-", 1)
            start, stop, step = float(start_text), float(stop_text), float(step_text)
            # math.isfinite also refuses NaN; without these checks "20-inf:10" would loop until memory runs out.
            if not all(map(math.isfinite, (start, stop, step))) or step <= 0 or stop < start:
                raise ValueError
            if (stop - start) / step >= MAX_SWEEP_VALUES:
                raise AgeshiftError(
                    f"{option} {text!r}: more than {MAX_SWEEP_VALUES} values; use a larger step"
                )
            values, value = [], start
            while value <= stop + 1e-9:
                values.append(round(value, 6))
                value += step
            return values
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise AgeshiftError(f"{option} {text!r}: expected numbers like 20,40,60 or 20-80:10") from None
    if not values:
        raise AgeshiftError(f"{option} {text!r}: no values")
    return values


def sweep_requests(
    translator: Translator,
    ages: Sequence[float] | None = None,
    strengths: Sequence[float] | None = None,
    direction: str | None = None,
    attributes: dict[str, str] | None = None,
    target_age: float | None = None,
) -> list[dict[str, Any]]:
    """The list of requests of a sweep: target ages for conditional models, strengths for any model.

    ``target_age`` is the condition a strengths sweep moves towards (conditional models).

    Raises:
        ConditionError: a value the model does not accept (checked for every entry before any work).
    """
    if ages and strengths:
        raise AgeshiftError("sweep either --ages or --strengths, not both")
    if ages and target_age is not None:
        raise AgeshiftError("--target-age is for a --strengths sweep; --ages already gives the ages")
    if not ages and not strengths:
        if translator.conditions.age is None:
            raise AgeshiftError(
                f"this model takes no target age ({translator.conditions.accepts()}); "
                "sweep --strengths 0,0.25,0.5,0.75,1 instead"
            )
        raise AgeshiftError("give --ages (e.g. 20,30,40,50,60,70,80) or --strengths")
    requests: list[dict[str, Any]] = []
    for age in ages or []:
        condition = translator.condition(direction, age, attributes, 1.0)
        requests.append({"direction": None, "target_age": condition.target_age, "attributes": attributes})
    for strength in strengths or []:
        condition = translator.condition(direction, target_age, attributes, strength)
        requests.append(
            {
                "direction": condition.direction,
                "target_age": condition.target_age,
                "attributes": attributes,
                "strength": condition.strength,
            }
        )
    return requests


def _caption(request: dict[str, Any]) -> str:
    """``"age 40"`` in an ages sweep; ``"older 0.50"`` or ``"age 70 0.50"`` in a strengths sweep."""
    parts = [request["direction"]] if request.get("direction") else []
    if request.get("target_age") is not None:
        parts.append(f"age {request['target_age']:g}")
    if "strength" in request:
        parts.append(f"{request['strength']:.2f}")
    return " ".join(parts)


def _face_window(box: Sequence[float], width: int, height: int, margin: float) -> tuple[int, int, int, int]:
    """A square window around a face box, ``margin`` of its side added on every side, inside the photo."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = min(side, width, height)
    left = int(round(min(max(cx - side / 2, 0), width - side)))
    top = int(round(min(max(cy - side / 2, 0), height - side)))
    return left, top, left + int(side), top + int(side)


def sweep_photo(
    image: Image.Image,
    translator: Translator,
    requests: Sequence[dict[str, Any]],
    *,
    detector: str | FaceDetector = "mtcnn",
    mode: str = "faces",
    boxes: Sequence[Sequence[float]] | None = None,
    whole_photo: bool = False,
    frame_size: int = 256,
    margin: float = 0.35,
    judge: Callable[[Image.Image], float | None] | None = None,
    **options: Any,
) -> list[SweepFrame]:
    """Apply each request to the same faces of a photo and return one frame per request.

    Args:
        image: the photo (used as RGB; not modified).
        translator: any model.
        requests: from :func:`sweep_requests`.
        detector: face detector name or object (faces are found once).
        mode: ``"faces"`` or ``"whole"`` (the whole picture, e.g. pets).
        boxes: user regions instead of detected faces.
        whole_photo: frames show the whole photo instead of the region around the largest face.
        frame_size: the longer side of each frame in pixels.
        margin: context around the face in a frame, as a fraction of the face box.
        judge: measures a frame (e.g. the packaged age estimator); its value joins the caption.
        options: passed to :func:`~ageshift.faces.age_photo` (``max_faces``, ``color_match``, …).

    Returns:
        One :class:`SweepFrame` per request.
    """
    from .pipeline import age_photo

    photo = image.convert("RGB")
    detections = None
    if mode == "faces" and boxes is None:
        found = detect_faces(
            photo, detector, options.get("detect_max_side", 1024), options.get("min_face_size")
        )
        detections = filter_detections(
            found, options.get("min_face_size", 40.0), options.get("min_score", 0.9)
        )
        if not detections:
            raise NoFaceError("no face found in the photo (try --whole-image or --box for pets)")
    frames = []
    window = None
    for request in requests:
        result = age_photo(
            photo,
            translator,
            mode=mode,
            boxes=boxes,
            detections=detections,
            detector=detector,
            **request,
            **options,
        )
        if window is None and not whole_photo and result.faces:
            window = _face_window(result.faces[0].detection.box, photo.width, photo.height, margin)
        picture = result.image.crop(window) if window is not None else result.image
        scale = frame_size / max(picture.size)
        picture = picture.resize(
            (max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
            Image.Resampling.LANCZOS,
        )
        caption = _caption(request)
        if judge is not None:
            measured = judge(picture)
            if measured is not None:
                caption += f" (measured {measured:.0f})"
        frames.append(SweepFrame(picture, caption, dict(request)))
    return frames


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def captioned(frame: SweepFrame, band: int = 24) -> Image.Image:
    """The frame with its caption in a band underneath."""
    canvas = Image.new("RGB", (frame.image.width, frame.image.height + band), (255, 255, 255))
    canvas.paste(frame.image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    font = _font(max(10, band - 10))
    left, top, right, bottom = draw.textbbox((0, 0), frame.caption, font=font)
    x = (canvas.width - (right - left)) // 2
    draw.text(
        (x, frame.image.height + (band - (bottom - top)) // 2 - top),
        frame.caption,
        fill=(20, 20, 20),
        font=font,
    )
    return canvas


def write_sweep(frames: Sequence[SweepFrame], path: str | Path, seconds_per_frame: float = 0.6) -> Path:
    """Write the frames as a strip (``.png``/``.jpg``), an animation (``.gif``) or a video (``.mp4``).

    Returns:
        The path written (atomically).
    """
    from ..io import save_image

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in STRIP_SUFFIXES:
        raise AgeshiftError(
            f"{path}: the sweep is written as {', '.join(STRIP_SUFFIXES)}; choose one of them"
        )
    if not frames:
        raise AgeshiftError("nothing to write: the sweep has no frames")
    pictures = [captioned(frame) for frame in frames]
    if suffix in (".png", ".jpg", ".jpeg"):
        gap = 4
        strip = Image.new(
            "RGB",
            (sum(p.width for p in pictures) + gap * (len(pictures) - 1), max(p.height for p in pictures)),
            "white",
        )
        x = 0
        for picture in pictures:
            strip.paste(picture, (x, 0))
            x += picture.width + gap
        return save_image(strip, path)
    import numpy as np

    from ..latent.edit import write_video

    arrays = [np.asarray(picture) for picture in pictures]
    if suffix == ".gif":
        return write_video(arrays, path, fps=1.0 / seconds_per_frame)
    # H.264 in yuv420p needs even sides: pad odd ones with the caption band's white (imageio would rescale
    # the frame and warn on stderr).
    arrays = [
        np.pad(array, ((0, array.shape[0] % 2), (0, array.shape[1] % 2), (0, 0)), constant_values=255)
        for array in arrays
    ]
    repeat = max(1, round(seconds_per_frame * 10))
    return write_video([array for array in arrays for _ in range(repeat)], path, fps=10.0)
