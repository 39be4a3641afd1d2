"""Translating image files: pair inputs with outputs (never over an input), then run a model in batches."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import AgeshiftError, DataError, ImageLoadError
from .io import IMAGE_SUFFIXES, list_images, load_image, save_image
from .outputs import OutputError, OutputPlan, is_within

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
    """Pair every input image with the file its translation goes to, checking every output before any work.

    Args:
        source: an image file, or a folder searched recursively.
        destination: for a file, the output file (its suffix picks the format) or an existing folder;
            for a folder, the output folder, mirroring the input's sub-folders.
        image_format: suffix for outputs written into a folder (``png`` or ``jpg``).

    Returns:
        ``[(input_path, output_path), ...]``.

    Raises:
        OutputError: an output would replace an input (also through a link), two inputs would be written
            to one file (``a.jpg`` and ``a.png`` → ``a.png``), or the output location cannot be written.
    """
    source, destination = Path(source), Path(destination)
    if not source.exists():
        raise DataError(f"{source}: input does not exist")
    suffix = "." + image_format.lower().lstrip(".")
    if suffix not in IMAGE_SUFFIXES:
        raise DataError(f"output format {image_format!r} is not supported; use png or jpg")
    if source.is_file():
        plan = OutputPlan([source])
        if destination.is_dir():
            destination = destination / (source.stem + suffix)
        elif destination.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(
                f"{destination}: output file needs an image suffix ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        return [(source, plan.file(destination, "OUTPUT", source))]
    if destination.resolve() == source.resolve():
        raise OutputError(f"{destination}: output is the input folder; choose another so the inputs are kept")
    plan = OutputPlan()
    plan.folder(destination, "OUTPUT")
    inputs = [path for path in list_images(source) if not is_within(path, destination)]
    # earlier results inside the input folder are not inputs; every input is protected before any claim
    plan.protect(*inputs)
    pairs = [
        (path, plan.claim((destination / path.relative_to(source)).with_suffix(suffix), path))
        for path in inputs
    ]
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
            except (OSError, AgeshiftError) as error:
                summary.failed.append((target, f"cannot write ({error})"))
        if progress is not None:
            progress(len(chunk))
    return summary
