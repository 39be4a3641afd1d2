"""Makeup training data: the MT dataset's layout with 68 landmarks per image, and its preparation.

A makeup data folder (what ``ageshift prepare makeup`` writes, from MT or from procedural faces)::

    DATA/images/makeup/*.png        faces wearing makeup (the references)
    DATA/images/non-makeup/*.png    bare faces (the sources)
    DATA/test/makeup, test/non-makeup   optional held-out faces for the sample grids and evaluation
    DATA/landmarks.json             68 iBUG-order points per image, in that image's pixels, and which
                                    images have a stored mask
    DATA/masks/<image path>         optional region masks (red lips, green eye shadow, blue skin) made from
                                    MT's face-parsing maps (``segs/``) by ``prepare makeup``

Registered as the ``makeup`` data kind. Faces are decoded once at the stage size together with their region
masks: the stored mask when there is one (:func:`~ageshift.faces.regions.parsing_masks`), else drawn from the
landmarks (:func:`~ageshift.faces.regions.region_masks`, exactly as at use, where no parsing map exists); a
flip mirrors a face and its masks together. Sources and references are drawn independently (unpaired, as in
the paper).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...data import EpochSampler, flip_horizontally, random_flip_mask
from ...data.folders import SkippedFile
from ...errors import AgeshiftError, ConfigError, DataError, ImageLoadError
from ...faces.regions import parsing_masks, region_masks
from ...image import center_crop_square, resize_pil, uint8_to_tensor
from ...io import list_images, load_image, save_image
from ...outputs import write_json
from ...training.data import DATA_KINDS, DataSource, TrainingData

LANDMARKS_FILE = "landmarks.json"
LANDMARKS_FORMAT = "ageshift-makeup-landmarks/1"
#: Folder of each stream, relative to the data root: training and held-out.
STREAMS = {"source": "non-makeup", "reference": "makeup"}
TRAIN_FOLDER, TEST_FOLDER = "images", "test"
#: Stored region masks of a prepared folder, and MT's face-parsing maps in the downloaded one.
MASKS_FOLDER, PARSING_FOLDER = "masks", "segs"
MASK_CHOICES = ("auto", "parsing", "landmarks")


def read_landmarks(root: Path) -> tuple[dict[str, np.ndarray], set[str]]:
    """``landmarks.json`` of a makeup data folder: image path relative to the root → ``(68, 2)`` points, and the
    images whose region masks are stored under ``masks/`` (from parsing maps).

    Raises:
        DataError: missing, unreadable or malformed file (naming it and what to run).
    """
    path = root / LANDMARKS_FILE
    if not path.is_file():
        raise DataError(
            f"{root}: no {LANDMARKS_FILE}; makeup training needs each face's 68 landmarks: run "
            f"`ageshift prepare makeup {root} --out PREPARED` (MT layout) or `ageshift prepare makeup --synthetic`"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: unreadable landmarks file ({error})") from None
    if not isinstance(data, dict) or data.get("format") != LANDMARKS_FORMAT:
        raise DataError(f"{path}: not an ageshift makeup landmarks file (format {LANDMARKS_FORMAT})")
    points: dict[str, np.ndarray] = {}
    for name, value in dict(data.get("points", {})).items():
        array = np.asarray(value, dtype=np.float64)
        if array.shape != (68, 2) or not np.isfinite(array).all():
            raise DataError(f"{path}: the landmarks of {name} are not 68 finite (x, y) points")
        points[name] = array
    stored = data.get("masks", [])
    return points, {str(key) for key in stored} if isinstance(stored, list) else set()


def _square_labels(labels: np.ndarray, size: int) -> np.ndarray:
    """The centred square of a label map (or of stacked masks) resized to ``size`` without mixing labels: the
    same crop as :func:`square_face` gives the image."""
    square = center_crop_square(Image.fromarray(labels))
    if square.size != (size, size):
        square = square.resize((size, size), Image.Resampling.NEAREST)
    return np.asarray(square)


def _stored_masks(path: Path, size: int) -> np.ndarray:
    """``(3, size, size)`` float32 masks from a stored mask PNG (red lips, green eye shadow, blue skin)."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: unreadable region mask ({error}); prepare the folder again") from None
    return (np.moveaxis(_square_labels(pixels, size), -1, 0) > 127).astype(np.float32)


def square_face(image: Image.Image, points: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The centred square of ``image`` resized to ``size`` and ``points`` mapped with it.

    Returns:
        ``((size, size, 3) uint8, (68, 2) points)``.
    """
    width, height = image.size
    side = min(width, height)
    offset = np.array([(width - side) // 2, (height - side) // 2], dtype=np.float64)
    pixels = np.asarray(resize_pil(center_crop_square(image.convert("RGB")), size), dtype=np.uint8)
    return pixels, (points - offset) * (size / side)


@dataclass
class FaceSet:
    """One stream's faces at one size: images ``(N, 3, S, S)`` in ``[-1, 1]`` and masks ``(N, 3, S, S)``."""

    images: torch.Tensor
    masks: torch.Tensor
    points: list[np.ndarray]
    files: list[Path]

    def take(self, indices: list[int] | range) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return self.images[index], self.masks[index].float()


def load_face_set(
    root: Path,
    folder: Path,
    size: int,
    points: dict[str, np.ndarray],
    skipped: list[SkippedFile] | None,
    mask_keys: set[str] | None = None,
) -> FaceSet | None:
    """Every readable image of ``folder`` with landmarks, at ``size``; ``None`` when there is none.

    Masks come from ``masks/`` for the images in ``mask_keys``, from the landmarks for the others.
    """
    images, masks, kept_points, files = [], [], [], []
    for path in list_images(folder) if folder.is_dir() else []:
        key = path.relative_to(root).as_posix()
        if key not in points:
            if skipped is not None:
                skipped.append(SkippedFile(path, f"no landmarks in {LANDMARKS_FILE}"))
            continue
        try:
            pixels, scaled = square_face(load_image(path), points[key], size)
        except ImageLoadError as error:
            if skipped is not None:
                skipped.append(SkippedFile(path, str(error)))
            continue
        images.append(uint8_to_tensor(pixels))
        if mask_keys and key in mask_keys:
            stack = _stored_masks(root / MASKS_FOLDER / key, size)
        else:
            stack = region_masks(scaled, size).stack()
        masks.append(torch.from_numpy(stack).to(torch.uint8))
        kept_points.append(scaled)
        files.append(path)
    if not images:
        return None
    return FaceSet(torch.stack(images), torch.stack(masks), kept_points, files)


class MakeupData(TrainingData):
    """Bare sources and made-up references (see the module docstring for the layout)."""

    kind = "makeup"

    def __init__(self, source: DataSource, size: int, seed: int, config: Any, progress: bool) -> None:
        if isinstance(source, tuple):
            raise ConfigError(
                "makeup training reads one prepared folder: pass --data DATA (ageshift prepare makeup)"
            )
        self.root = Path(source)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: makeup data folder does not exist")
        self.points, self.mask_keys = read_landmarks(self.root)
        self.seed = seed
        self.skipped: list[SkippedFile] = []
        self.samplers: dict[str, EpochSampler] = {}
        self.set_size(size)

    def set_size(self, size: int) -> None:
        self.size = size
        skipped: list[SkippedFile] = []
        self.train: dict[str, FaceSet] = {}
        self.held_out: dict[str, FaceSet | None] = {}
        for stream, folder in STREAMS.items():
            faces = load_face_set(
                self.root, self.root / TRAIN_FOLDER / folder, size, self.points, skipped, self.mask_keys
            )
            if faces is None:
                raise DataError(
                    f"{self.root / TRAIN_FOLDER / folder}: no readable faces with landmarks "
                    f"({'bare faces' if stream == 'source' else 'faces wearing makeup'} are needed)"
                )
            self.train[stream] = faces
            self.held_out[stream] = load_face_set(
                self.root, self.root / TEST_FOLDER / folder, size, self.points, None, self.mask_keys
            )
        self.skipped = skipped
        for salt, (stream, faces) in enumerate(self.train.items()):
            self.samplers.setdefault(stream, EpochSampler(len(faces.images), self.seed, salt=salt))

    def counts(self) -> dict[str, int]:
        return {stream: len(faces.images) for stream, faces in self.train.items()}

    def next_batch(
        self, batch_size: int, random: torch.Generator, flip_probability: float
    ) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        for stream, faces in self.train.items():
            images, masks = faces.take(self.samplers[stream].next(batch_size))
            flip = random_flip_mask(batch_size, random, flip_probability)
            batch[stream] = flip_horizontally(images, flip)
            batch[f"{stream}_masks"] = flip_horizontally(masks, flip)
        return batch

    def samples(self, count: int) -> dict[str, torch.Tensor]:
        """Held-out faces when the data has a test split, else the first training faces."""
        batch: dict[str, torch.Tensor] = {}
        for stream, faces in self.train.items():
            chosen = self.held_out[stream] or faces
            images, masks = chosen.take(range(min(count, len(chosen.images))))
            batch[stream], batch[f"{stream}_masks"] = images, masks
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {stream: sampler.state_dict() for stream, sampler in self.samplers.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for stream, sampler in self.samplers.items():
            sampler.load_state_dict(state[stream])

    def describe(self) -> dict[str, Any]:
        held = {stream: len(faces.images) for stream, faces in self.held_out.items() if faces is not None}
        return {"kind": self.kind, "root": str(self.root), "counts": self.counts(), "held_out": held}


DATA_KINDS.setdefault("makeup", MakeupData)


# ---- preparation ------------------------------------------------------------------------------------------


@dataclass
class PreparedMakeup:
    """What :func:`prepare_makeup_folder` or :func:`make_synthetic_makeup` wrote."""

    root: Path
    counts: dict[str, int]
    skipped: list[SkippedFile]
    #: Faces whose masks came from a parsing map (the rest are drawn from landmarks when loaded).
    parsed: int = 0


def _split_name(index: int, count: int, test_fraction: float) -> str:
    """Every ``1/test_fraction``-th face is held out (deterministic, spread over the folder)."""
    if test_fraction <= 0:
        return TRAIN_FOLDER
    every = max(2, round(1 / test_fraction))
    return TEST_FOLDER if index % every == every - 1 and count > 2 else TRAIN_FOLDER


#: One prepared face: file stem, the square image, its landmarks and (from a parsing map) its masks as the
#: ``(S, S, 3)`` uint8 layers stored under ``masks/`` (red lips, green eye shadow, blue skin).
PreparedFace = tuple[str, Image.Image, np.ndarray, np.ndarray | None]


def _write_prepared(
    out: Path,
    faces: dict[str, list[PreparedFace]],
    test_fraction: float,
    origin: dict[str, Any],
    skipped: list[SkippedFile],
) -> PreparedMakeup:
    points: dict[str, list[list[float]]] = {}
    counts: dict[str, int] = {}
    stored: list[str] = []
    for stream, items in faces.items():
        folder = STREAMS[stream]
        for index, (stem, image, landmarks, masks) in enumerate(items):
            split = _split_name(index, len(items), test_fraction)
            relative = f"{split}/{folder}/{stem}.png"
            save_image(image, out / relative)
            points[relative] = np.round(landmarks, 3).tolist()
            counts[f"{split}/{folder}"] = counts.get(f"{split}/{folder}", 0) + 1
            if masks is not None:
                save_image(Image.fromarray(masks), out / MASKS_FOLDER / relative)
                stored.append(relative)
    document = {"format": LANDMARKS_FORMAT, "origin": origin, "points": points, "masks": stored}
    write_json(out / LANDMARKS_FILE, document)
    return PreparedMakeup(out, counts, skipped, len(stored))


def make_synthetic_makeup(
    out: str | Path, count: int = 400, size: int = 64, seed: int = 0, test_fraction: float = 0.1
) -> PreparedMakeup:
    """Procedural faces in the makeup layout: ``count`` bare people and ``count`` others wearing makeup.

    Every made-up face wears a random lipstick, eye shadow and blush from many colours
    (:func:`~ageshift.data.synthetic_makeup.random_makeup`); landmarks are exact (from the drawing).
    """
    from ...data.synthetic_makeup import Makeup, makeup_identity, random_makeup, render_made_up_face

    if count < 2:
        raise ConfigError(f"--count must be at least 2, got {count}")
    rng = np.random.default_rng(seed)
    faces: dict[str, list[PreparedFace]] = {"source": [], "reference": []}
    for index in range(count):
        bare, bare_points = render_made_up_face(makeup_identity(rng), Makeup(), size)
        made, made_points = render_made_up_face(makeup_identity(rng), random_makeup(rng), size)
        faces["source"].append((f"bare{index:05d}", bare, bare_points, None))
        faces["reference"].append((f"makeup{index:05d}", made, made_points, None))
    origin = {"kind": "synthetic", "count": count, "size": size, "seed": seed}
    return _write_prepared(Path(out), faces, test_fraction, origin, [])


def prepare_makeup_folder(
    source: str | Path,
    out: str | Path,
    size: int = 256,
    test_fraction: float = 0.05,
    landmarks: Callable[[Image.Image], np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None,
    masks: str = "auto",
    parsing_labels: dict[str, tuple[int, ...]] | None = None,
) -> PreparedMakeup:
    """The MT dataset (``images/makeup``, ``images/non-makeup``, optional ``segs/``) resized to ``size`` with 68
    landmarks each, and region masks from MT's face-parsing maps where they exist.

    MT's faces are already aligned crops; dlib's 68-point predictor (``face_recognition_models``, trained on
    iBUG 300-W: non-commercial terms) finds each face's points. With parsing maps
    (``segs/makeup/NAME.png`` beside ``images/makeup/NAME.png``, and so on), each face's lips and skin come from
    its map and the eye-shadow reach from its landmarks (:func:`~ageshift.faces.regions.parsing_masks`); they
    are stored under ``masks/``. Files without a readable face, or with an unreadable or mismatched map, are
    skipped and listed; the source folder is only read.

    Args:
        source: the MT folder as downloaded.
        out: the prepared folder (must not be inside ``source``).
        size: side of the written faces.
        test_fraction: share of each stream held out under ``test/``.
        landmarks: ``crop → (68, 2)`` points (default: dlib through :func:`~ageshift.faces.regions.face_regions`).
        progress: called with ``(done, total)`` after each image.
        masks: ``"auto"`` (parsing maps when ``segs/`` exists, else landmarks), ``"parsing"`` (every face needs
            its map) or ``"landmarks"`` (maps ignored: masks as at use).
        parsing_labels: region → label values of the maps (default MT's,
            :data:`~ageshift.faces.regions.MT_PARSING_LABELS`).
    """
    from ...faces.regions import face_regions

    if masks not in MASK_CHOICES:
        raise ConfigError(f"masks must be one of {', '.join(MASK_CHOICES)}, got {masks!r}")
    source, out = Path(source), Path(out)
    folders = {stream: source / TRAIN_FOLDER / folder for stream, folder in STREAMS.items()}
    missing = [str(folder) for folder in folders.values() if not folder.is_dir()]
    if missing:
        raise DataError(
            f"{source}: not the MT layout (missing {', '.join(missing)}); expected images/makeup and images/non-makeup"
        )
    parsing_root = source / PARSING_FOLDER
    use_parsing = masks == "parsing" or (masks == "auto" and parsing_root.is_dir())
    if masks == "parsing" and not parsing_root.is_dir():
        raise DataError(f"{source}: no {PARSING_FOLDER}/ folder of face-parsing maps (--masks parsing)")
    find = landmarks or (lambda crop: face_regions(crop)[0])
    files = {stream: list_images(folder) for stream, folder in folders.items()}
    total = sum(len(paths) for paths in files.values())
    faces: dict[str, list[PreparedFace]] = {"source": [], "reference": []}
    skipped: list[SkippedFile] = []
    done = 0
    for stream, paths in files.items():
        for path in paths:
            done += 1
            try:
                image = load_image(path)
                points = np.asarray(find(image), dtype=np.float64)
            except (ImageLoadError, DataError) as error:
                skipped.append(SkippedFile(path, str(error)))
                continue
            except Exception as error:  # the landmark model failing on one file must not stop the folder
                skipped.append(
                    SkippedFile(path, f"no face landmarks found ({str(error) or type(error).__name__})")
                )
                continue
            if points.shape != (68, 2) or not np.isfinite(points).all():
                skipped.append(SkippedFile(path, "no face landmarks found"))
                continue
            pixels, scaled = square_face(image, points, size)
            region = None
            if use_parsing:
                relative = path.relative_to(folders[stream])
                try:
                    region = _parsed_regions(parsing_root / STREAMS[stream] / relative, image.size, points,
                                             size, parsing_labels)  # fmt: skip
                except DataError as error:
                    skipped.append(SkippedFile(path, str(error)))
                    continue
            faces[stream].append((path.stem, Image.fromarray(pixels), scaled, region))
            if progress is not None:
                progress(done, total)
    for stream, items in faces.items():
        if not items:
            mine = [item for item in skipped if item.path.parent == folders[stream]]
            first = f" (first: {mine[0].path.name}: {mine[0].reason})" if mine else ""
            raise DataError(f"{folders[stream]}: no usable face in any image{first}")
    origin = {
        "kind": "mt",
        "source": str(source),
        "size": size,
        "landmarks": "dlib 68-point (iBUG 300-W)",
        "masks": "parsing maps (segs/) with landmark eye-shadow rings" if use_parsing else "landmarks",
    }
    return _write_prepared(out, faces, test_fraction, origin, skipped)


def _parsed_regions(
    stem_path: Path,
    image_size: tuple[int, int],
    points: np.ndarray,
    size: int,
    labels: dict[str, tuple[int, ...]] | None,
) -> np.ndarray:
    """The region masks of one MT face from its parsing map, in the prepared square of ``size``, as the
    ``(size, size, 3)`` uint8 layers of a stored mask.

    ``stem_path`` is where the map would be with the image's own name; any image extension is accepted.

    Raises:
        DataError: no map, an unreadable one, one of another size than its image, or one without lip or skin
            labels (naming the map).
    """
    candidates = [stem_path] + [stem_path.with_suffix(suffix) for suffix in (".png", ".bmp", ".jpg")]
    path = next((candidate for candidate in candidates if candidate.is_file()), None)
    if path is None:
        raise DataError(f"no face-parsing map at {stem_path.with_suffix('.png')}")
    try:
        with Image.open(path) as map_image:
            parsing = np.asarray(map_image)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: unreadable parsing map ({error})") from None
    if parsing.ndim == 3 and (parsing[..., :3] == parsing[..., :1]).all():
        parsing = parsing[..., 0]  # labels saved as grey RGB
    if parsing.ndim != 2:
        raise DataError(f"{path}: a parsing map must be one channel of labels, not a colour image")
    if (parsing.shape[1], parsing.shape[0]) != tuple(image_size):
        raise DataError(
            f"{path}: parsing map is {parsing.shape[1]}×{parsing.shape[0]}, its image {image_size[0]}×{image_size[1]}"
        )
    try:
        regions = parsing_masks(parsing, points, labels)
    except AgeshiftError as error:
        raise DataError(f"{path}: {error}") from None
    layers = np.moveaxis(regions.stack(), 0, -1).astype(np.uint8) * 255
    return _square_labels(layers, size)


def held_out_pairs(root: str | Path, size: int, count: int | None = None) -> dict[str, Any]:
    """Held-out (``test/``, else training) sources and references paired in order, with masks and points.

    Returns:
        ``{"source", "reference"}`` ``(N, 3, S, S)`` images, ``{"source_masks", "reference_masks"}``
        ``(N, 3, S, S)`` boolean region masks and ``{"source_points", "reference_points"}`` lists of ``(68, 2)``
        arrays, ``N = min(count, sources, references)``.
    """
    root = Path(root)
    points, mask_keys = read_landmarks(root)
    pairs: dict[str, Any] = {}
    for stream, folder in STREAMS.items():
        faces = load_face_set(root, root / TEST_FOLDER / folder, size, points, None, mask_keys)
        faces = faces or load_face_set(root, root / TRAIN_FOLDER / folder, size, points, None, mask_keys)
        if faces is None:
            raise DataError(f"{root}: no {folder} faces with landmarks")
        pairs[stream], pairs[f"{stream}_points"] = faces.images, faces.points
        pairs[f"{stream}_masks"] = faces.masks.bool()
    total = min(len(pairs["source"]), len(pairs["reference"]), count or math.inf)
    return {key: value[: int(total)] for key, value in pairs.items()}
