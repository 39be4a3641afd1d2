"""``age_photo``: every face in a photo found, aligned, translated and pasted back; the rest untouched."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import AgeshiftError
from .align import AlignedFace, AlignmentSpec, align_box, align_face, apply_affine
from .blend import COLOR_SPACES, box_mask, face_mask, match_colors, paste_face
from .detect import detect_faces
from .types import FaceDetection, FaceDetector, filter_detections

if TYPE_CHECKING:
    from ..models.conditions import Condition
    from ..models.translator import Translator

MODES = ("faces", "whole")


@dataclass
class FaceResult:
    """One translated face.

    Attributes:
        detection: where the face is (for user boxes, landmarks are NaN and score is 1).
        aligned: the aligned input crop and its transforms.
        translated: the model's output crop (after colour matching, when asked).
        mask_box: ``(x0, y0, x1, y1)`` photo window the paste touched, or ``None`` if nothing was pasted.
        source: ``"detector"`` or ``"box"``.
    """

    detection: FaceDetection
    aligned: AlignedFace = field(repr=False)
    translated: Image.Image = field(repr=False)
    mask_box: tuple[int, int, int, int] | None
    source: str = "detector"

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary: box, landmarks (``None`` for user boxes), score, pasted window."""
        info = self.detection.to_json()
        if not np.isfinite(self.detection.landmarks).all():
            info["landmarks"] = None
        info["mask_box"] = list(self.mask_box) if self.mask_box else None
        info["source"] = self.source
        return info


@dataclass
class PhotoResult:
    """A translated photo: the image (the input's size) and what was done to each face."""

    image: Image.Image
    faces: list[FaceResult]
    mode: str = "faces"
    condition: Condition | None = None

    @property
    def direction(self) -> str | None:
        """The direction of a two-domain model's edit (``None`` for conditional models)."""
        return self.condition.direction if self.condition is not None else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary of the photo and its faces."""
        return {
            "width": self.image.width,
            "height": self.image.height,
            "mode": self.mode,
            "direction": self.direction,
            "condition": self.condition.to_json() if self.condition is not None else None,
            "faces": [face.to_json() for face in self.faces],
        }


def age_photo(
    image: Image.Image,
    translator: Translator,
    direction: str | None = None,
    *,
    target_age: float | None = None,
    attributes: Mapping[str, str] | None = None,
    detector: str | FaceDetector = "mtcnn",
    mode: str = "faces",
    boxes: Sequence[Sequence[float]] | None = None,
    detections: Sequence[FaceDetection] | None = None,
    max_faces: int = 10,
    min_face_size: float = 40.0,
    min_score: float = 0.9,
    color_match: bool | str = False,
    spec: AlignmentSpec | None = None,
    detect_max_side: int | None = 1024,
    feather: float = 0.08,
    box_padding: float = 0.15,
    strength: float | None = None,
    in_place: bool = False,
    keep_detail: bool = False,
    upscaler: Translator | None = None,
    current_age: Any = None,
) -> PhotoResult:
    """Edit every face in a photo (older, younger, a target age, attributes) and paste it back seamlessly.

    Args:
        image: the photo (any mode; used as RGB). Not modified unless ``in_place``.
        translator: a loaded model (``ageshift.load(...)``, ``"identity"`` included).
        direction: for two-domain models, ``"older"`` or ``"younger"``.
        target_age: for conditional models, the age to show (in the model's range).
        attributes: for conditional models, e.g. ``{"hair": "blond"}``.
        detector: backend name (``"mtcnn"``, ``"dlib"``) or a detector object.
        mode: ``"faces"`` (detect or use ``boxes``) or ``"whole"`` (translate the whole image, e.g. pets).
        boxes: user-given ``(x0, y0, x1, y1)`` regions translated instead of detected faces.
        detections: faces found earlier (e.g. by :func:`~ageshift.faces.detect_faces`), used instead of running
            the detector again (a sweep over many conditions detects once).
        max_faces: at most this many faces, largest first.
        min_face_size: smallest face side in photo pixels.
        min_score: detector confidence threshold.
        color_match: match each translated face's colour mean/std to the original face: ``True`` or
            ``"lab"`` in CIE Lab, ``"rgb"`` per RGB channel, ``False`` not at all.
        spec: crop alignment; default: the one stored in ``translator.metadata["crop"]``.
        detect_max_side: detection runs on a copy at most this large (``None``: full size).
        feather: soft mask edge as a fraction of the crop.
        box_padding: context around user boxes, as a fraction of the box.
        strength: ``0``–``1``: how far from the input towards the requested condition (the model's meaning of
            strength); ``None`` means 1.
        keep_detail: add each face's change to the photo rather than replacing the face (keeps the sharpness
            of faces larger than the model's crop).
        in_place: paste into ``image`` itself instead of a copy (saves one photo's memory on huge photos).
        upscaler: a super-resolution model (``ageshift.load("realesrgan-x4")``) run on each edited crop before
            paste-back, so a face larger than the model's crop is pasted sharp (see :mod:`ageshift.faces.chain`).
        current_age: for change-predicting models (``reager``): the faces' own age in years, one per face, or an
            age-estimator name; ``None`` uses the model's estimator.

    A change-predicting model (``translator.predicts_delta``, the ``reager`` family) is run for its change only,
    which is upscaled to each face's real size and added to the photo there (:func:`~ageshift.faces.delta.paste_delta`):
    the photo's own detail is never resampled, so ``keep_detail`` and ``upscaler`` are not needed (colour
    matching or an upscaler fall back to pasting the re-aged crop).

    Returns:
        :class:`PhotoResult` with an image of the input's size; pixels outside the face masks are unchanged.
    """
    condition = translator.condition(direction, target_age, attributes, strength)
    request: dict[str, Any] = {
        "direction": condition.direction, "target_age": condition.target_age,
        "attributes": condition.attributes, "strength": condition.strength,
    }  # fmt: skip
    if mode not in MODES:
        raise AgeshiftError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if color_match not in (False, True, *COLOR_SPACES):
        raise AgeshiftError(f"unknown color_match {color_match!r}; use True, False or one of {COLOR_SPACES}")
    if mode == "whole" and boxes is not None:
        raise AgeshiftError("boxes apply to mode='faces' only; mode='whole' translates the whole picture")
    photo = image if image.mode == "RGB" else image.convert("RGB")
    if mode == "whole":
        return PhotoResult(_translate_whole(photo, translator, request), [], mode, condition)
    spec = spec or AlignmentSpec.from_metadata(translator.metadata, translator.image_size)
    if boxes is not None:
        faces = [_box_face(photo, box, spec.size, box_padding, feather) for box in boxes]
    else:
        if detections is None:
            detections = detect_faces(photo, detector, detect_max_side, min_face_size)
        kept = filter_detections(list(detections), min_face_size, min_score, max_faces)
        faces = [(d, align_face(photo, d, spec), face_mask(spec.size, spec.points(), feather)) for d in kept]
    # A converted photo is already a private copy; only the caller's own image needs copying.
    output = photo if in_place or photo is not image else photo.copy()
    if getattr(translator, "predicts_delta", False) and upscaler is None and not color_match:
        return _add_changes(output, translator, faces, condition, current_age, boxes is not None, mode)
    results = []
    translated_crops = (
        translator.translate([aligned.crop for _, aligned, _ in faces], **request) if faces else []
    )
    # Paste the smallest first so that where faces overlap the larger (nearer) face ends on top.
    for (detection, aligned, mask), translated in reversed(list(zip(faces, translated_crops, strict=True))):
        if color_match:
            space = "lab" if color_match is True else str(color_match)
            translated = match_colors(translated, aligned.crop, mask, space)
        pasted = (translated, mask, aligned)
        if upscaler is not None:
            from .chain import upscaled_face

            pasted = upscaled_face(translated, mask, aligned, upscaler, keep_detail)  # type: ignore[arg-type]
        window = paste_face(output, *pasted, keep_detail)
        source = "box" if boxes is not None else "detector"
        results.append(FaceResult(detection, aligned, translated, window, source))
    return PhotoResult(output, results[::-1], mode, condition)


def _add_changes(
    output: Image.Image,
    translator: Any,
    faces: list[tuple[FaceDetection, AlignedFace, Image.Image]],
    condition: Condition,
    current_age: Any,
    from_boxes: bool,
    mode: str,
) -> PhotoResult:
    """The change-predicting path of :func:`age_photo`: each face's change added at its real size."""
    import torch

    from ..image import pil_to_tensor, tensor_to_pil
    from .delta import paste_delta

    results = []
    if faces:
        crops = torch.stack([pil_to_tensor(aligned.crop) for _, aligned, _ in faces])
        deltas = translator.predict_delta(crops, condition.target_age, current_age, condition.strength)
        if deltas.shape[-2:] != crops.shape[-2:]:  # an alignment spec other than the model's own size
            size = tuple(crops.shape[-2:])
            deltas = torch.nn.functional.interpolate(deltas, size=size, mode="bilinear", align_corners=False)
        # Smallest first so that where faces overlap the larger (nearer) face ends on top.
        for (detection, aligned, mask), crop, delta in reversed(list(zip(faces, crops, deltas, strict=True))):
            window = paste_delta(output, delta.permute(1, 2, 0).numpy() * 127.5, mask, aligned)
            translated = tensor_to_pil((crop + delta).clamp(-1, 1))
            results.append(
                FaceResult(detection, aligned, translated, window, "box" if from_boxes else "detector")
            )
    return PhotoResult(output, results[::-1], mode, condition)


def _box_face(
    photo: Image.Image, box: Sequence[float], size: int, padding: float, feather: float
) -> tuple[FaceDetection, AlignedFace, Image.Image]:
    """Detection, square crop and rectangle mask for one user-given box."""
    if len(box) != 4:
        raise AgeshiftError(f"a box needs 4 numbers x0,y0,x1,y1, got {list(box)}")
    x0, y0, x1, y1 = (float(v) for v in box)
    clipped = (max(x0, 0.0), max(y0, 0.0), min(x1, float(photo.width)), min(y1, float(photo.height)))
    if not (clipped[2] > clipped[0] and clipped[3] > clipped[1]):
        raise AgeshiftError(
            f"box {tuple(box)} is empty or outside the {photo.width}x{photo.height} image (need x0<x1, y0<y1)"
        )
    aligned = align_box(photo, clipped, size, padding)
    corners = apply_affine(aligned.matrix, np.array([clipped[:2], clipped[2:]]))
    mask = box_mask(size, (*corners[0], *corners[1]), feather)
    return FaceDetection(clipped, np.full((5, 2), np.nan), 1.0), aligned, mask


def _translate_whole(photo: Image.Image, translator: Translator, request: dict[str, Any]) -> Image.Image:
    """Translate the whole picture at the model's size and bring it back to the photo's size."""
    side = translator.image_size
    # Shrink in PIL first: a 50-megapixel photo never becomes a float tensor.
    small = photo.resize((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    translated = translator.translate(small, **request)
    return translated.resize(photo.size, Image.Resampling.BICUBIC)
