"""Datasets and transforms: unpaired domain folders and labelled images for training."""

from .folders import DomainImages, EpochSampler, ImageFiles, SkippedFile, UnpairedFolders
from .labelled import LabelledImages, LabelSchema, sample_targets
from .manifest import read_dataset_json
from .synthetic import (
    FaceAttributes,
    FaceIdentity,
    identity_distance,
    make_synthetic_dataset,
    measure_age_cue,
    measure_attributes,
    measure_identity,
    random_attributes,
    random_identity,
    render_face,
)
from .transforms import flip_horizontally, random_flip_mask, square_resize
from .utkface import parse_utkface_name, prepare_utkface, prepare_utkface_all_ages

__all__ = [
    "DomainImages",
    "EpochSampler",
    "FaceAttributes",
    "FaceIdentity",
    "ImageFiles",
    "LabelSchema",
    "LabelledImages",
    "SkippedFile",
    "UnpairedFolders",
    "flip_horizontally",
    "identity_distance",
    "make_synthetic_dataset",
    "measure_age_cue",
    "measure_attributes",
    "measure_identity",
    "parse_utkface_name",
    "prepare_utkface",
    "prepare_utkface_all_ages",
    "random_attributes",
    "random_flip_mask",
    "random_identity",
    "read_dataset_json",
    "render_face",
    "sample_targets",
    "square_resize",
]
