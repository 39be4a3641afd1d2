"""Safe image input and output: an allow-list of formats, EXIF orientation, every pixel mode, size limits,
and atomic writes so a crash never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DataError, ImageLoadError
from .outputs import atomic_write  # the one atomic writer, also imported from here by older code

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "atomic_write",
    "list_images",
    "load_image",
    "save_image",
    "to_rgb",
]

#: File suffixes ageshift reads; anything else in a folder is ignored.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
#: Decoder names PIL may report for those files: a renamed file of another format is refused.
ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "BMP", "WEBP", "TIFF", "MPO"})
#: Default pixel limit, 100 megapixels exactly; beyond it a file is refused as a possible decompression bomb.
#: It is the real limit: Pillow's own (89.5 megapixels, refused outright above twice that) is set to it while
#: ageshift opens a file, so neither a smaller nor a larger ``max_pixels`` is overruled by Pillow.
DEFAULT_MAX_PIXELS = 100_000_000
_PIXEL_LIMIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _pillow_pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Make Pillow's decompression-bomb limit ``max_pixels`` while a file is opened (and restore it).

    The lock keeps two threads (the web page's workers) from restoring each other's limit.
    """
    with _PIXEL_LIMIT_LOCK:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            with warnings.catch_warnings():
                # Between the limit and twice it Pillow only warns: our own check below refuses those.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def list_images(folder: str | Path, recursive: bool = True) -> list[Path]:
    """List image files under ``folder``, sorted, skipping hidden files and folders.

    Args:
        folder: directory to scan.
        recursive: descend into sub-folders.

    Returns:
        Paths with an allowed suffix (case-insensitive), in a stable sorted order.
    """
    root = Path(folder)
    if not root.exists():
        raise DataError(f"{root}: folder does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: is not a folder")
    found = []
    pattern = "**/*" if recursive else "*"
    for path in root.glob(pattern):
        relative = path.relative_to(root).parts
        if any(part.startswith(".") for part in relative):
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            found.append(path)
    return sorted(found)


def load_image(
    path: str | Path,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    background: tuple[int, int, int] = (255, 255, 255),
) -> Image.Image:
    """Read an image file as an 8-bit RGB PIL image, whatever its mode or orientation.

    EXIF orientation is applied; transparency is composited over ``background``; CMYK, palette,
    grayscale and 16-bit or float images are converted with their full range mapped to 0–255.

    Args:
        path: the file.
        max_pixels: refuse images with more pixels than this (``None`` for no limit).
        background: RGB colour behind transparent pixels.

    Returns:
        A fully loaded RGB ``PIL.Image``.

    Raises:
        ImageLoadError: naming the file and the problem.
    """
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(f"{path}: file does not exist")
    if path.is_dir():
        raise ImageLoadError(f"{path}: is a folder, not an image")
    try:
        # Our own file object: closing it after decoding leaves the decoded pixels usable, so the image needs no
        # copy (closing an image Pillow opened from a path destroys its pixels, and copying 1 MP costs ~4 ms).
        with open(path, "rb") as stream:
            with _pillow_pixel_limit(max_pixels):
                opened = Image.open(stream)  # Pillow checks its limit here, when it reads the header
            if opened.format not in ALLOWED_FORMATS:
                raise ImageLoadError(
                    f"{path}: format {opened.format} is not supported "
                    f"(supported: {', '.join(sorted(ALLOWED_FORMATS))})"
                )
            width, height = opened.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageLoadError(
                    f"{path}: {width}x{height} is {width * height / 1e6:.1f} megapixels, over the limit of "
                    f"{max_pixels / 1e6:g} (refused as a possible decompression bomb; raise max_pixels "
                    "if the file is trusted)"
                )
            opened.load()
        ImageOps.exif_transpose(opened, in_place=True)
        return to_rgb(opened, background)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageLoadError(f"{path}: refused as a possible decompression bomb ({error})") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{path}: not an image file, or a corrupt one") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageLoadError(f"{path}: cannot decode image ({error})") from None


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Convert a PIL image of any mode to 8-bit RGB.

    Args:
        image: a loaded PIL image.
        background: RGB colour composited behind transparent pixels.

    Returns:
        An RGB image of the same size.
    """
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _high_depth_to_rgb(image)
    if mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if mode == "CMYK" and image.info.get("icc_profile") is None:
        # Photoshop writes inverted CMYK JPEGs (Adobe APP14); PIL already accounts for that on decode.
        return image.convert("RGB")
    return image.convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """Map a 16/32-bit integer or float grayscale image to 8-bit RGB by its nominal range."""
    array = np.asarray(image)
    if image.mode == "F":
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        if low >= 0.0 and high <= 1.0:
            low, high = 0.0, 1.0
    else:
        low, high = 0.0, 65535.0 if array.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
    scale = 255.0 / max(high - low, 1e-12)
    gray = np.clip((array.astype(np.float64) - low) * scale, 0, 255).round().astype(np.uint8)
    return Image.fromarray(np.stack([gray] * 3, axis=-1))


def save_image(image: Image.Image, path: str | Path, quality: int = 95) -> Path:
    """Write a PIL image atomically; the format follows the suffix (JPEG, PNG, WEBP, BMP, TIFF).

    Args:
        image: the image to write.
        path: destination; its parent folders are created.
        quality: JPEG/WEBP quality.

    Returns:
        The destination path.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageLoadError(
            f"{path}: cannot write suffix '{suffix}' (use one of {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    format_name = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF"}.get(suffix, suffix[1:].upper())
    options = {"quality": quality} if format_name in ("JPEG", "WEBP") else {}
    if format_name == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    with atomic_write(path) as stream:
        image.save(stream, format=format_name, **options)
    return path
