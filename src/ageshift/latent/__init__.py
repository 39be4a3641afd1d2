"""Latent editing: a generator's latent space, attribute ("age") directions, progression videos,
projection of real images, and datasets made from generated samples.

Public API::

    from ageshift.latent import load_packaged_dcgan, label_latents, fit_direction, write_edit_outputs
    generator = load_packaged_dcgan()
    samples = label_latents(generator, packaged_age_function(), count=2000)
    direction = fit_direction(samples.latents, samples.scores)            # ridge normal by default
    write_edit_outputs(generator, direction, generator.sample_latents(4), "age.mp4")
"""

from __future__ import annotations

from .dataset import GeneratedDatasetConfig, GeneratedDatasetReport, prepare_generated_dataset
from .directions import (
    DIRECTION_METHODS,
    IdentityDistance,
    LabelledLatents,
    LatentDirection,
    ScoreFunction,
    fit_direction,
    label_latents,
    measure_direction,
    score_latents,
)
from .edit import (
    EditOutputs,
    contact_sheet,
    edit_images,
    parse_strength_range,
    render_frames,
    strength_schedule,
    write_edit_outputs,
    write_video,
)
from .generator import DCGANGenerator, DCGANLatentGenerator, LatentGenerator, load_packaged_dcgan
from .projection import ProjectionConfig, ProjectionResult, align_for_generator, project_images
from .scoring import packaged_age_function, packaged_identity_distance

__all__ = [
    "DIRECTION_METHODS",
    "DCGANGenerator",
    "DCGANLatentGenerator",
    "EditOutputs",
    "GeneratedDatasetConfig",
    "GeneratedDatasetReport",
    "IdentityDistance",
    "LabelledLatents",
    "LatentDirection",
    "LatentGenerator",
    "ProjectionConfig",
    "ProjectionResult",
    "ScoreFunction",
    "align_for_generator",
    "contact_sheet",
    "edit_images",
    "fit_direction",
    "label_latents",
    "load_packaged_dcgan",
    "measure_direction",
    "packaged_age_function",
    "packaged_identity_distance",
    "parse_strength_range",
    "prepare_generated_dataset",
    "project_images",
    "render_frames",
    "score_latents",
    "strength_schedule",
    "write_edit_outputs",
    "write_video",
]
