"""Toonify a photo (Pinkney & Adler 2020): project it with a base StyleGAN, render the latent with the base
blended with a style fine-tune of it (layer swapping, :mod:`ageshift.models.stylegan.blend`), paste it back.

With a face found, the face is aligned like the packaged DCGAN's frame and the stylized face replaces it
through the inverse alignment under a feathered face mask; with none (a pet, anything), the centred square
is projected and replaced as a whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..faces.align import AlignedFace
from ..image import make_grid, resize_pil, tensor_to_pil
from ..io import load_image, save_image
from ..models.stylegan.blend import blend_generators
from ..outputs import atomic_write
from .generator import DCGAN64_TEMPLATE
from .projection import FeatureExtractor, ProjectionConfig, align_for_generator
from .stylegan import StyleGANLatentGenerator, project_stylegan


@dataclass
class StylizeReport:
    """What :func:`stylize_photo` wrote and how faithful the projection was."""

    output: Path
    strip: Path
    face_found: bool
    psnr: float


def stylize_photo(
    photo_path: str | Path,
    base: StyleGANLatentGenerator,
    style: StyleGANLatentGenerator,
    out: str | Path,
    swap_at: int,
    config: ProjectionConfig | None = None,
    feature_extractor: FeatureExtractor | None = None,
    progress: bool = True,
) -> StylizeReport:
    """Stylize one photo and write ``out`` (the photo with the stylized face or square), ``<out>_strip.png``
    (target, reconstruction, stylized) and ``<out>.json``.

    Args:
        photo_path: the photo.
        base: the base generator (projection happens in its space; W+ reconstructs best).
        style: its fine-tune on the style folder.
        out: the output image path.
        swap_at: resolutions up to this one come from the base (see ``blend_generators``).
        config: projection settings.
        feature_extractor: optional feature network for the projection loss.
    """
    photo = load_image(photo_path)
    blended = StyleGANLatentGenerator(
        blend_generators(base.network, style.network, swap_at), base.space, name="blend"
    )
    target, aligned = align_for_generator(photo, base.image_size)
    result = project_stylegan(base, target, config or ProjectionConfig(), feature_extractor, progress)
    assert result.noise is not None
    with torch.no_grad():
        stylized = blended.with_noise(result.noise).synthesize(result.latents)[0]
    crop = tensor_to_pil(stylized)
    pasted = photo.copy()
    if aligned is not None:
        from ..faces.blend import face_mask, paste_face

        size = base.image_size
        paste_face(
            pasted,
            crop,
            face_mask(size, DCGAN64_TEMPLATE * size),
            AlignedFace(crop, aligned.matrix, aligned.inverse),
        )
    else:
        side = min(photo.size)
        left, top = (photo.width - side) // 2, (photo.height - side) // 2
        pasted.paste(resize_pil(crop, side), (left, top))
    out = Path(out)
    save_image(pasted, out)
    strip_path = out.with_name(f"{out.stem}_strip.png")
    save_image(
        tensor_to_pil(make_grid([torch.stack([target[0], result.reconstructions[0], stylized])])), strip_path
    )
    summary = {
        "photo": str(photo_path),
        "face_found": aligned is not None,
        "psnr_db": float(result.psnr[0]),
        "swap_at": swap_at,
        "space": base.space,
        "steps": len(result.loss_history),
    }
    with atomic_write(out.with_suffix(".json"), "w") as stream:
        json.dump(summary, stream, indent=2)
    return StylizeReport(out, strip_path, aligned is not None, float(result.psnr[0]))
