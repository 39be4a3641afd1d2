"""Makeup on real photos: the reference face aligned like the model's crops, then every face of a photo edited.

``makeup_photo(photo, model, reference_photo)`` finds the one face of the reference photo, aligns it exactly as
the model's training crops were aligned, binds it to the model (``with_reference``) and runs the face pipeline
(:func:`~ageshift.faces.pipeline.age_photo`): each face aligned, transferred, optionally super-resolved, and
pasted back; the rest of the photo is untouched. ``remove=True`` takes makeup off instead (no reference).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from ..errors import AgeshiftError
from .align import AlignmentSpec, align_face
from .detect import detect_faces
from .types import FaceDetector, filter_detections

if TYPE_CHECKING:
    from ..models.beautygan.translator import MakeupTranslator
    from .pipeline import PhotoResult


class ReferenceFaceError(AgeshiftError):
    """The makeup reference holds no face, or more than one."""


def is_makeup_model(model: Any) -> bool:
    """Whether ``model`` (PyTorch or ONNX) transfers makeup and so takes a reference face."""
    return getattr(model, "evaluation", None) == "makeup"


def reference_face(
    reference: Image.Image,
    model: MakeupTranslator,
    detector: str | FaceDetector = "mtcnn",
    min_face_size: float = 40.0,
    min_score: float = 0.9,
    name: str = "the reference",
    aligned: bool = False,
) -> Image.Image:
    """The reference's one face as the model's aligned crop.

    Args:
        reference: the photo whose makeup to copy.
        model: the makeup model (its crop alignment and size).
        detector: face detector backend or object.
        min_face_size, min_score: as for the face pipeline.
        name: how error messages call the reference (its path).
        aligned: the reference already is an aligned crop (a training image): used as it is.

    Raises:
        ReferenceFaceError: no face found, or several (the message says which and what to do).
    """
    photo = reference.convert("RGB")
    if aligned:
        return photo
    found = filter_detections(detect_faces(photo, detector, 1024, min_face_size), min_face_size, min_score)
    if not found:
        raise ReferenceFaceError(
            f"{name}: no face found in the makeup reference (give a photo with one clear face, or "
            "--reference-aligned for an aligned crop)"
        )
    if len(found) > 1:
        raise ReferenceFaceError(
            f"{name}: {len(found)} faces in the makeup reference; crop it to the one face whose makeup to copy"
        )
    spec = AlignmentSpec.from_metadata(model.metadata, model.image_size)
    return align_face(photo, found[0], spec).crop


def bind_reference(
    model: Any,
    reference: str | Path | Image.Image,
    detector: str | FaceDetector = "mtcnn",
    *,
    name: str | None = None,
    aligned: bool = False,
    min_face_size: float = 40.0,
) -> MakeupTranslator:
    """``model`` bound to the one face of ``reference`` (a photo path or image), aligned like its crops.

    ``name`` (default: the path), ``aligned`` and ``min_face_size`` are as for :func:`reference_face`.

    Raises:
        AgeshiftError: ``model`` is not a makeup model; ReferenceFaceError: no face or several.
    """
    from ..io import load_image

    if not is_makeup_model(model):
        raise AgeshiftError(
            f"reference: a {getattr(model, 'family', '?')} model takes no makeup reference (only makeup models do)"
        )
    if name is None:
        name = str(reference) if not isinstance(reference, Image.Image) else "the reference"
    image = reference if isinstance(reference, Image.Image) else load_image(reference)
    crop = reference_face(image, model, detector, min_face_size, name=name, aligned=aligned)
    return model.with_reference(crop)


def makeup_photo(
    photo: Image.Image,
    model: MakeupTranslator,
    reference: Image.Image | None = None,
    *,
    remove: bool = False,
    strength: float | None = 1.0,
    detector: str | FaceDetector = "mtcnn",
    reference_aligned: bool = False,
    reference_name: str = "the reference",
    **options: Any,
) -> PhotoResult:
    """Every face of ``photo`` wearing ``reference``'s makeup (or with makeup removed), pasted back.

    Args:
        photo: the photo to edit (not modified).
        model: a loaded makeup model (``ageshift.load``).
        reference: the made-up face to copy (a photo with one face; ``reference_aligned`` for a crop).
        remove: take makeup off instead (no reference needed).
        strength: ``0``–``1``, mixes each face with its transferred version.
        detector: face detector for both photos.
        options: passed to :func:`~ageshift.faces.pipeline.age_photo` (``upscaler``, ``max_faces``,
            ``color_match``, ``keep_detail``, ``boxes``, ...).

    Returns:
        The face pipeline's :class:`~ageshift.faces.pipeline.PhotoResult`.
    """
    from .pipeline import age_photo

    if not is_makeup_model(model):
        raise AgeshiftError(f"a {getattr(model, 'family', '?')} model does not transfer makeup")
    if remove:
        if reference is not None:
            raise AgeshiftError("remove takes makeup off: give no reference")
        bound = model
    else:
        if reference is None:
            raise AgeshiftError("makeup needs a reference photo (or remove=True)")
        bound = bind_reference(
            model, reference, detector, name=reference_name, aligned=reference_aligned,
            min_face_size=float(options.get("min_face_size", 40.0)),
        )  # fmt: skip
    direction = "remove" if remove else "makeup"
    return age_photo(photo, bound, direction, strength=strength, detector=detector, **options)
