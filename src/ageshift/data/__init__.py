"""Datasets and transforms: unpaired domain folders for training."""

from .folders import DomainImages, EpochSampler, SkippedFile, UnpairedFolders
from .transforms import flip_horizontally, random_flip_mask, square_resize

__all__ = [
    "DomainImages",
    "EpochSampler",
    "SkippedFile",
    "UnpairedFolders",
    "flip_horizontally",
    "random_flip_mask",
    "square_resize",
]
