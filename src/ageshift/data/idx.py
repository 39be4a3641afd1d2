"""The IDX file format of MNIST and Fashion-MNIST: read and write arrays, find a download's four files.

An IDX file is a 4-byte magic number ``00 00 TT NN`` (``TT`` the element type, ``NN`` the number of
dimensions), ``NN`` big-endian uint32 sizes, then the elements in C order, big-endian. MNIST ships it
gzipped (``train-images-idx3-ubyte.gz``); both forms are read, by content rather than by name.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import atomic_write

#: Element types by IDX type code (all big-endian).
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
#: The two splits of an MNIST-style download, by the prefix of their file names.
IDX_SPLITS = {"train": "train", "test": "t10k"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or not).

    Args:
        path: e.g. ``train-images-idx3-ubyte.gz`` (``(N, 28, 28)`` uint8) or ``train-labels-idx1-ubyte``
            (``(N,)`` uint8).

    Returns:
        The array in native byte order, shaped as the header says.

    Raises:
        DataError: naming the file: unreadable, not IDX (bad magic number), an unknown element type,
            truncated, or longer than its header says.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except OSError as error:  # also gzip.BadGzipFile and EOFError of a cut-off .gz
        raise DataError(
            f"{path}: cannot read IDX file ({getattr(error, 'strerror', None) or error})"
        ) from None
    except (EOFError, zlib.error) as error:
        raise DataError(f"{path}: damaged gzip data ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{path}: not an IDX file (magic number {raw[:4].hex(' ') or 'missing'}, expected 00 00 TT NN)"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in IDX_TYPES:
        known = ", ".join(f"0x{code:02x}" for code in IDX_TYPES)
        raise DataError(f"{path}: unknown IDX element type 0x{type_code:02x} (known: {known})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, {ndim} dimensions need {header})")
    shape = tuple(int(size) for size in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        problem = "truncated" if found < expected else "longer than its header says"
        raise DataError(
            f"{path}: {problem}: shape {shape} of {dtype.name} needs {expected} data bytes, found {found}"
        )
    array = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write an array as an IDX file, atomically (gzipped when ``compress`` or the name ends in ``.gz``).

    Args:
        path: the file to write.
        array: any shape; its dtype must be one IDX has (uint8, int8, int16, int32, float32, float64).
        compress: gzip the file; default: when ``path`` ends in ``.gz``.

    Returns:
        The path written.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
    if array.dtype.newbyteorder("=") not in codes:
        raise DataError(
            f"{path}: IDX cannot hold {array.dtype} arrays (use uint8, int8, int16, int32, float32 or float64)"
        )
    code = codes[array.dtype.newbyteorder("=")]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + array.astype(IDX_TYPES[code]).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    with atomic_write(path) as stream:
        stream.write(payload)
    return path


def find_idx_files(folder: str | Path, split: str) -> tuple[Path, Path]:
    """The images and labels files of one split of an MNIST-style download.

    Accepts the original names (``train-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), gzipped or not, and
    the dotted variant some mirrors use (``train-images.idx3-ubyte``).

    Args:
        folder: the download folder.
        split: ``"train"`` or ``"test"`` (files named ``t10k-…``).

    Returns:
        ``(images file, labels file)``.

    Raises:
        DataError: the folder or one of the files is missing (the message lists what was looked for).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: IDX folder does not exist")
    prefix = IDX_SPLITS[split]
    found = []
    for kind, dims in (("images", 3), ("labels", 1)):
        names = [f"{prefix}-{kind}{sep}idx{dims}-ubyte{gz}" for sep in ("-", ".") for gz in ("", ".gz")]
        matches = [folder / name for name in names if (folder / name).is_file()]
        if not matches:
            raise DataError(f"{folder}: no {split} {kind} file (looked for {', '.join(names[::2])}, or .gz)")
        found.append(matches[0])
    return found[0], found[1]


def read_idx_split(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split of an MNIST-style download: ``(N, H, W)`` uint8 images and ``(N,)`` int64 labels.

    Raises:
        DataError: missing or malformed files, images that are not ``(N, H, W)`` uint8, or image and label
            counts that differ.
    """
    images_file, labels_file = find_idx_files(folder, split)
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_file}: expected (N, H, W) uint8 images, got {images.dtype} {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_file}: expected (N,) labels, got shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{folder}: {images_file.name} holds {len(images)} images but {labels_file.name} {len(labels)} labels"
        )
    return images, labels.astype(np.int64)
