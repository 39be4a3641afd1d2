"""Datasets and transforms: unpaired domain folders for training."""

from .folders import DomainImages, EpochSampler, SkippedFile, UnpairedFolders
from .synthetic import FaceIdentity, make_synthetic_dataset, measure_age_cue, random_identity, render_face
from .transforms import flip_horizontally, random_flip_mask, square_resize
from .utkface import parse_utkface_name, prepare_utkface

__all__ = [
    "DomainImages",
    "EpochSampler",
    "FaceIdentity",
    "SkippedFile",
    "UnpairedFolders",
    "flip_horizontally",
    "make_synthetic_dataset",
    "measure_age_cue",
    "parse_utkface_name",
    "prepare_utkface",
    "random_flip_mask",
    "random_identity",
    "render_face",
    "square_resize",
]
