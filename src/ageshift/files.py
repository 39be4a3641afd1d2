"""Translating image files: pair inputs with outputs (never over an input), then run a model in batches."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import AgeshiftError, DataError, ImageLoadError
from .io import IMAGE_SUFFIXES, list_images, load_image, save_image

if TYPE_CHECKING:
    from .models.translator import Translator


@dataclass
class TranslationSummary:
    """What :func:`translate_files` did: files written and files skipped with the reason."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def plan_translation(
    source: str | Path, destination: str | Path, image_format: str = "png"
) -> list[tuple[Path, Path]]:
    """Pair every input image with the file its translation goes to.

    Args:
        source: an image file, or a folder searched recursively.
        destination: for a file, the output file (its suffix picks the format) or an existing folder;
            for a folder, the output folder, mirroring the input's sub-folders.
        image_format: suffix for outputs written into a folder (``png`` or ``jpg``).

    Returns:
        ``[(input_path, output_path), ...]``; refuses to write over any input.
    """
    source, destination = Path(source), Path(destination)
    if not source.exists():
        raise DataError(f"{source}: input does not exist")
    suffix = "." + image_format.lower().lstrip(".")
    if suffix not in IMAGE_SUFFIXES:
        raise DataError(f"output format {image_format!r} is not supported; use png or jpg")
    if destination.resolve() == source.resolve():
        raise DataError(f"{destination}: output is the input; choose another output so the input is kept")
    if source.is_file():
        if destination.is_dir():
            return [(source, destination / (source.stem + suffix))]
        if destination.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(
                f"{destination}: output file needs an image suffix ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        return [(source, destination)]
    if destination.exists() and not destination.is_dir():
        raise DataError(f"{destination}: input {source} is a folder, so the output must be a folder too")
    inside_output = destination.resolve()
    pairs = []
    for path in list_images(source):
        if path.resolve().is_relative_to(inside_output):
            continue  # earlier results written inside the input folder are not inputs
        pairs.append((path, (destination / path.relative_to(source)).with_suffix(suffix)))
    if not pairs:
        raise DataError(f"{source}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return pairs


def translate_files(
    translator: Translator,
    pairs: Sequence[tuple[Path, Path]],
    direction: str | None = None,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
    *,
    target_age: float | None = None,
    attributes: Mapping[str, str] | None = None,
    strength: float | None = 1.0,
) -> TranslationSummary:
    """Translate image files in batches; unreadable files are skipped and reported, not fatal.

    Args:
        translator: the model.
        pairs: ``(input, output)`` paths, e.g. from :func:`plan_translation`.
        direction, target_age, attributes, strength: the condition (see ``Translator.translate``); checked
            before any file is read.
        batch_size: images per forward pass; images of one size share a batch.
        progress: called with the number of files finished after each batch.

    Returns:
        A :class:`TranslationSummary`.
    """
    translator.condition(direction, target_age, attributes, strength)
    if batch_size < 1:
        raise AgeshiftError(f"batch_size must be >= 1, got {batch_size}")
    summary = TranslationSummary()
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        loaded = []
        for source, target in chunk:
            try:
                loaded.append((load_image(source), target))
            except ImageLoadError as error:
                summary.failed.append((source, str(error)))
        translated = translator.translate(
            [image for image, _ in loaded],
            direction,
            batch_size=batch_size,
            target_age=target_age,
            attributes=attributes,
            strength=strength,
        )
        for (_, target), image in zip(loaded, translated, strict=True):
            try:
                summary.written.append(save_image(image, target))
            except (OSError, ImageLoadError) as error:
                summary.failed.append((target, f"cannot write ({error})"))
        if progress is not None:
            progress(len(chunk))
    return summary
