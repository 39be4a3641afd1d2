"""A procedural face-like dataset whose age is a controllable cue that can be measured from pixels.

Each face has random identity features (head shape, skin tone, eyes, hair style, background, pose jitter)
and an age that drives two cues: hair and eyebrows turn grey and light, and forehead, eye and mouth lines
deepen. :func:`measure_age_cue` reads those cues back from pixels only and maps them to an apparent age in
years, so tests and demos can check that a translator moves faces in the right direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..errors import AgeshiftError, ConfigError, DataError
from ..image import check_batch, pil_to_tensor, resize, tensor_to_pil
from ..io import save_image
from .manifest import (
    SPLIT_FOLDERS,
    ManifestRow,
    age_domains,
    check_disjoint,
    check_test_fraction,
    choose_test_items,
    prepare_output,
    split_counts,
    write_dataset_json,
    write_manifest,
)

#: Age (years) below which no cue shows and above which the cue is saturated.
CUE_START_AGE = 10.0
CUE_FULL_AGE = 85.0
#: Supersampling factor: shapes are drawn this many times larger and downsampled, for anti-aliasing.
SUPERSAMPLE = 3
#: Hair base colours before greying: dark shades only, so that "light and grey" can only mean "old".
HAIR_BASES = ((28, 24, 22), (52, 36, 26), (74, 50, 32), (88, 44, 26), (40, 40, 46), (64, 56, 44))
#: The colour hair reaches at full age.
HAIR_GREY = (222, 222, 226)
SKIN_TONES = ((244, 208, 180), (230, 188, 150), (205, 155, 115), (170, 120, 85), (125, 85, 60), (96, 64, 46))
IRIS_COLOURS = ((70, 45, 25), (40, 90, 150), (60, 110, 70), (110, 90, 60), (30, 30, 30))

#: Side of the square the measurement resamples every image to.
MEASURE_SIZE = 64
#: Regions (top, bottom, left, right as fractions of the side) that hold hair and bare forehead for every
#: identity and pose the renderer can draw; found by rendering thousands of faces (see the tests).
HAIR_BOX = (0.22, 0.29, 0.45, 0.56)
FOREHEAD_BOX = (0.39, 0.45, 0.38, 0.62)
#: Linear calibration from the measured features (hair lightness, hair chroma, forehead line energy) to an
#: apparent age, fitted by least squares on rendered faces aged 10-85 (see ``fit_cue_calibration``).
CUE_CALIBRATION = (-2.9228565422506803, 97.93129764937369, -34.89030455885261, 4.109844870241865)


@dataclass(frozen=True)
class FaceIdentity:
    """The age-independent look of one synthetic person; all lengths are fractions of the image side."""

    head_width: float
    head_height: float
    skin: tuple[int, int, int]
    eye_height: float
    eye_spacing: float
    eye_size: float
    iris: tuple[int, int, int]
    hair_base: tuple[int, int, int]
    hair_style: int
    hair_volume: float
    hairline: float
    mouth_width: float
    background_top: tuple[int, int, int]
    background_bottom: tuple[int, int, int]
    clothes: tuple[int, int, int]
    shift_x: float
    shift_y: float
    tilt_degrees: float
    wrinkle_seed: int


#: Hair styles the renderer knows (``FaceIdentity.hair_style`` indexes this).
HAIR_STYLES = ("short", "long", "bun", "side_part")


def random_identity(rng: np.random.Generator) -> FaceIdentity:
    """Draw a random synthetic person.

    Args:
        rng: the random generator; the same state gives the same identity.

    Returns:
        A :class:`FaceIdentity`.
    """

    def pick(options: Sequence[tuple[int, int, int]], jitter: int) -> tuple[int, int, int]:
        base = np.array(options[rng.integers(len(options))])
        return tuple(int(v) for v in np.clip(base + rng.integers(-jitter, jitter + 1, 3), 0, 255))

    return FaceIdentity(
        head_width=float(rng.uniform(0.25, 0.30)),
        head_height=float(rng.uniform(0.32, 0.36)),
        skin=pick(SKIN_TONES, 10),
        eye_height=float(rng.uniform(-0.04, 0.0)),
        eye_spacing=float(rng.uniform(0.36, 0.46)),
        eye_size=float(rng.uniform(0.035, 0.05)),
        iris=pick(IRIS_COLOURS, 15),
        hair_base=pick(HAIR_BASES, 8),
        hair_style=int(rng.integers(len(HAIR_STYLES))),
        hair_volume=float(rng.uniform(0.04, 0.08)),
        hairline=float(rng.uniform(0.31, 0.34)),
        mouth_width=float(rng.uniform(0.22, 0.34)),
        background_top=tuple(int(v) for v in rng.integers(40, 240, 3)),
        background_bottom=tuple(int(v) for v in rng.integers(40, 240, 3)),
        clothes=tuple(int(v) for v in rng.integers(20, 230, 3)),
        shift_x=float(rng.uniform(-0.03, 0.03)),
        shift_y=float(rng.uniform(-0.01, 0.01)),
        tilt_degrees=float(rng.uniform(-6.0, 6.0)),
        wrinkle_seed=int(rng.integers(2**31)),
    )


def age_amount(age: float) -> float:
    """How far the age cue has progressed, 0 (young) to 1 (old), linear between the cue start and full ages."""
    return float(np.clip((age - CUE_START_AGE) / (CUE_FULL_AGE - CUE_START_AGE), 0.0, 1.0))


def _mix(colour: Sequence[int], target: Sequence[int], amount: float) -> tuple[int, int, int]:
    return tuple(int(round(c + (t - c) * amount)) for c, t in zip(colour, target, strict=True))


def _ellipse_points(cx: float, cy: float, rx: float, ry: float, count: int = 64) -> np.ndarray:
    angles = np.linspace(0.0, 2.0 * math.pi, count, endpoint=False)
    return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)


def _background(identity: FaceIdentity, side: int) -> Image.Image:
    ramp = np.linspace(0.0, 1.0, side, dtype=np.float32)[:, None, None]
    top = np.array(identity.background_top, dtype=np.float32)
    bottom = np.array(identity.background_bottom, dtype=np.float32)
    column = (top + (bottom - top) * ramp + 0.5).astype(np.uint8)
    return Image.fromarray(column).resize((side, side), Image.Resampling.NEAREST)


def _draw_hair_back(draw: ImageDraw.ImageDraw, identity: FaceIdentity, hair: tuple, px: float) -> None:
    cx, cy = 0.5 * px, 0.56 * px
    rx, ry = identity.head_width * px, identity.head_height * px
    volume = identity.hair_volume * px
    style = HAIR_STYLES[identity.hair_style]
    draw.ellipse((cx - rx - volume, cy - ry - volume, cx + rx + volume, cy + ry * 0.4), fill=hair)
    if style == "long":
        draw.rectangle((cx - rx - volume, cy - ry * 0.2, cx + rx + volume, cy + ry * 1.15), fill=hair)
    elif style == "bun":
        bun = 0.11 * px
        draw.ellipse(
            (cx - bun, cy - ry - volume - bun * 1.3, cx + bun, cy - ry - volume + bun * 0.6), fill=hair
        )


def _draw_head(
    draw: ImageDraw.ImageDraw, identity: FaceIdentity, skin: tuple, hair: tuple, px: float
) -> None:
    cx, cy = 0.5 * px, 0.56 * px
    rx, ry = identity.head_width * px, identity.head_height * px
    neck = rx * 0.45
    draw.rectangle((cx - neck, cy + ry * 0.6, cx + neck, px), fill=skin)
    draw.ellipse((cx - rx * 2.2, cy + ry * 1.25, cx + rx * 2.2, cy + ry * 3.5), fill=identity.clothes)
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=skin)
    for side in (-1, 1):
        draw.ellipse(
            (cx + side * rx - 0.03 * px, cy - 0.02 * px, cx + side * rx + 0.03 * px, cy + 0.07 * px),
            fill=skin,
        )
    # The fringe: the part of the head ellipse above the hairline, bulging down a little in the middle.
    hairline_y = identity.hairline * px
    outline = _ellipse_points(cx, cy, rx + 0.004 * px, ry + 0.004 * px, 96)
    upper = outline[outline[:, 1] < hairline_y]
    upper = upper[np.argsort(np.arctan2(upper[:, 1] - cy, upper[:, 0] - cx))]
    dip = 0.03 * px if HAIR_STYLES[identity.hair_style] == "side_part" else 0.02 * px
    tip_x = cx + (0.35 * rx if HAIR_STYLES[identity.hair_style] == "side_part" else 0.0)
    fringe = [(float(x), float(y)) for x, y in upper] + [(tip_x, hairline_y + dip)]
    draw.polygon(fringe, fill=hair)


def _draw_features(
    draw: ImageDraw.ImageDraw, identity: FaceIdentity, skin: tuple, brow: tuple, px: float
) -> None:
    cx, cy = 0.5 * px, 0.56 * px
    rx, ry = identity.head_width * px, identity.head_height * px
    eye_y = cy - identity.eye_height * px
    eye_r = identity.eye_size * px
    line = max(1, round(0.012 * px))
    for side in (-1, 1):
        ex = cx + side * identity.eye_spacing * rx
        draw.ellipse(
            (ex - eye_r * 1.3, eye_y - eye_r * 0.75, ex + eye_r * 1.3, eye_y + eye_r * 0.75),
            fill=(245, 245, 240),
        )
        draw.ellipse(
            (ex - eye_r * 0.6, eye_y - eye_r * 0.6, ex + eye_r * 0.6, eye_y + eye_r * 0.6), fill=identity.iris
        )
        draw.ellipse(
            (ex - eye_r * 0.25, eye_y - eye_r * 0.25, ex + eye_r * 0.25, eye_y + eye_r * 0.25),
            fill=(10, 10, 10),
        )
        brow_y = eye_y - eye_r * 1.6
        draw.line(
            (ex - eye_r * 1.5, brow_y + eye_r * 0.2, ex + eye_r * 1.5, brow_y - eye_r * 0.1 * side),
            fill=brow,
            width=line * 2,
        )
    nose_y = cy + 0.27 * ry
    shade = _mix(skin, (0, 0, 0), 0.25)
    draw.line((cx, eye_y + eye_r, cx - 0.02 * px, nose_y, cx + 0.015 * px, nose_y), fill=shade, width=line)
    mouth_y = cy + 0.58 * ry
    half = identity.mouth_width * rx
    draw.chord((cx - half, mouth_y - 0.04 * px, cx + half, mouth_y + 0.04 * px), 10, 170, fill=(150, 60, 60))


def _draw_wrinkles(
    draw: ImageDraw.ImageDraw, identity: FaceIdentity, skin: tuple, amount: float, px: float
) -> None:
    if amount <= 0.0:
        return
    rng = np.random.default_rng(identity.wrinkle_seed)
    cx, cy = 0.5 * px, 0.56 * px
    rx, ry = identity.head_width * px, identity.head_height * px
    eye_y = cy - identity.eye_height * px
    # Lines deepen (contrast) and multiply (count) with age; both are what the measurement picks up.
    colour = _mix(skin, (40, 20, 15), 0.15 + 0.45 * amount)
    width = max(1, round(0.011 * px))
    top = identity.hairline * px + 0.035 * px
    bottom = eye_y - identity.eye_size * px * 1.6 - 0.02 * px
    count = 1 + int(round(4 * amount))
    for index in range(count):
        y = top + (bottom - top) * (index + 0.5) / count + rng.uniform(-0.003, 0.003) * px
        half = rx * rng.uniform(0.45, 0.6)
        bend = rng.uniform(0.004, 0.01) * px
        draw.arc((cx - half, y - bend, cx + half, y + bend * 3), 200, 340, fill=colour, width=width)
    mouth_y = cy + 0.58 * ry
    for side in (-1, 1):
        corner = cx + side * (identity.eye_spacing * rx + identity.eye_size * px * 1.4)
        for spread in (-0.6, 0.0, 0.6)[: 1 + int(amount * 3)]:
            draw.line(
                (corner, eye_y, corner + side * 0.03 * px, eye_y + spread * 0.02 * px),
                fill=colour,
                width=width,
            )
        fold_x = cx + side * (identity.mouth_width * rx + 0.02 * px)
        box = (fold_x - 0.03 * px, mouth_y - 0.1 * px, fold_x + 0.03 * px, mouth_y + 0.04 * px)
        draw.arc(box, *((110, 250) if side < 0 else (-70, 70)), fill=colour, width=width)


def render_face(age: float, identity: FaceIdentity, size: int = 64) -> Image.Image:
    """Draw one synthetic face of ``identity`` at ``age``.

    Args:
        age: age in years; the cue grows linearly between ``CUE_START_AGE`` and ``CUE_FULL_AGE``.
        identity: the person (see :func:`random_identity`).
        size: output side in pixels.

    Returns:
        An RGB ``PIL.Image`` of ``size × size``.
    """
    if size < 16:
        raise AgeshiftError(f"synthetic face size must be at least 16 pixels, got {size}")
    amount = age_amount(age)
    px = size * SUPERSAMPLE
    hair = _mix(identity.hair_base, HAIR_GREY, amount)
    skin = _mix(identity.skin, (255, 240, 235), 0.12 * amount)
    layer = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    _draw_hair_back(draw, identity, hair, px)
    _draw_head(draw, identity, skin, hair, px)
    _draw_wrinkles(draw, identity, skin, amount, px)
    _draw_features(draw, identity, skin, _mix(hair, (0, 0, 0), 0.2), px)
    centre = (0.5 * px, 0.56 * px)
    # Nearest is enough: the box downsampling below anti-aliases the rotated edges anyway.
    layer = layer.rotate(identity.tilt_degrees, resample=Image.Resampling.NEAREST, center=centre)
    offset = (round(identity.shift_x * px), round(identity.shift_y * px))
    canvas = _background(identity, px)
    canvas.paste(layer, offset, layer)
    return canvas.resize((size, size), Image.Resampling.BOX)


def _as_batch(images: torch.Tensor | Sequence[Image.Image]) -> np.ndarray:
    """Images as a ``(B, 3, MEASURE_SIZE, MEASURE_SIZE)`` float array in ``[0, 1]``."""
    if isinstance(images, torch.Tensor):
        batch = check_batch(images, "images").detach().float().cpu().clamp(-1.0, 1.0)
        return ((resize(batch, MEASURE_SIZE).numpy() + 1.0) / 2.0).astype(np.float64)
    if len(images) == 0:
        raise AgeshiftError("measure_age_cue needs at least one image, got an empty list")
    arrays = []
    for image in images:
        if image.size != (MEASURE_SIZE, MEASURE_SIZE) or image.mode != "RGB":
            image = tensor_to_pil(resize(pil_to_tensor(image)[None], MEASURE_SIZE)[0])
        arrays.append(np.asarray(image))
    return np.stack(arrays).transpose(0, 3, 1, 2).astype(np.float64) / 255.0


def _box(batch: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    top, bottom, left, right = (round(edge * MEASURE_SIZE) for edge in box)
    return batch[:, :, top:bottom, left:right]


def age_cue_features(images: torch.Tensor | Sequence[Image.Image]) -> np.ndarray:
    """Measure the raw age-cue features of synthetic faces from pixels only.

    Args:
        images: RGB PIL images (any size) or a ``(B, 3, H, W)`` tensor in ``[-1, 1]``; resampled to 64².

    Returns:
        ``(B, 3)`` array: hair lightness (0-1), hair chroma (0-1), forehead line energy (relative contrast).
    """
    batch = _as_batch(images)
    hair = _box(batch, HAIR_BOX).reshape(batch.shape[0], 3, -1)
    # Medians ignore the odd background or skin pixel at the box edge for extreme poses (and after blur).
    lightness = np.median(hair.mean(axis=1), axis=1)
    chroma = np.median(hair.max(axis=1) - hair.min(axis=1), axis=1)
    luma = batch[:, 0] * 0.299 + batch[:, 1] * 0.587 + batch[:, 2] * 0.114
    top, bottom, left, right = (round(edge * MEASURE_SIZE) for edge in FOREHEAD_BOX)
    # Horizontal lines show as a vertical second difference; relative to skin brightness, so dark and
    # light skin give the same reading.
    region = luma[:, top - 1 : bottom + 1, left:right]
    curvature = np.abs(region[:, :-2] - 2.0 * region[:, 1:-1] + region[:, 2:])
    energy = curvature.mean(axis=(1, 2)) / np.maximum(region.mean(axis=(1, 2)), 0.05)
    return np.stack([lightness, chroma, energy], axis=1)


def measure_age_cue(images: torch.Tensor | Sequence[Image.Image]) -> np.ndarray:
    """Estimate the apparent age (years) of synthetic faces from their hair greying and forehead lines.

    Monotonic in the renderer's age between ``CUE_START_AGE`` and ``CUE_FULL_AGE`` and robust to identity;
    a translator that ages faces must raise it. Reads pixels only.

    Args:
        images: RGB PIL images (any size) or a ``(B, 3, H, W)`` tensor in ``[-1, 1]``.

    Returns:
        ``(B,)`` float array of apparent ages in years.
    """
    features = age_cue_features(images)
    intercept, *weights = CUE_CALIBRATION
    return intercept + features @ np.asarray(weights)


def fit_cue_calibration(count: int = 2000, size: int = 64, seed: int = 1234) -> tuple[float, ...]:
    """Fit the linear map from :func:`age_cue_features` to age on freshly rendered faces.

    This is how ``CUE_CALIBRATION`` was made; rerun it after changing the renderer.

    Args:
        count: faces to render (random identities, ages uniform in the cue's linear range).
        size: side of the rendered faces.
        seed: random seed.

    Returns:
        ``(intercept, lightness_weight, chroma_weight, energy_weight)``.
    """
    rng = np.random.default_rng(seed)
    ages = rng.uniform(CUE_START_AGE, CUE_FULL_AGE, count)
    faces = [render_face(float(age), random_identity(rng), size) for age in ages]
    features = age_cue_features(faces)
    design = np.concatenate([np.ones((count, 1)), features], axis=1)
    solution, *_ = np.linalg.lstsq(design, ages, rcond=None)
    return tuple(float(value) for value in solution)


@dataclass(frozen=True)
class SyntheticDatasetReport:
    """What :func:`make_synthetic_dataset` wrote."""

    out: Path
    counts: dict[str, int]
    mean_cue: dict[str, float]


def _render_indexed(
    index: int, seed: int, age_range: tuple[float, float], size: int
) -> tuple[float, Image.Image]:
    # One generator per image: the same (seed, index) always gives the same face, whatever the count.
    rng = np.random.default_rng([seed, index])
    age = float(rng.uniform(age_range[0], age_range[1]))
    return age, render_face(age, random_identity(rng), size)


def make_synthetic_dataset(
    out: str | Path,
    count: int = 1200,
    size: int = 64,
    young: tuple[int, int] = (18, 30),
    old: tuple[int, int] = (55, 80),
    seed: int = 0,
    test_fraction: float = 0.1,
    overwrite: bool = False,
    progress: bool = False,
) -> SyntheticDatasetReport:
    """Write a synthetic young/old face dataset in the standard layout (A = young, B = old).

    Ages are uniform inside each (inclusive) range; half the faces are young. ``manifest.csv`` records the
    true age and the measured cue (:func:`measure_age_cue`) of every image.

    Args:
        out: dataset root (created; an existing dataset there is refused unless ``overwrite``).
        count: total number of images.
        size: image side in pixels.
        young: age range of domain A.
        old: age range of domain B.
        seed: random seed; the same seed writes the same files.
        test_fraction: share of each domain held out in ``testA``/``testB``.
        overwrite: replace an earlier dataset in ``out``.
        progress: show a progress bar.

    Returns:
        A :class:`SyntheticDatasetReport` with per-folder counts and mean measured cue per domain.
    """
    from tqdm import tqdm

    check_disjoint(young, old)
    check_test_fraction(test_fraction)
    if count < 2:
        raise ConfigError(f"synthetic dataset count must be at least 2 (one per domain), got {count}")
    if size < 16:
        raise ConfigError(f"synthetic face size must be at least 16 pixels, got {size}")
    root = prepare_output(out, overwrite)
    domain_ranges = {"A": (young[0], young[1] + 0.999), "B": (old[0], old[1] + 0.999)}
    indices = {"A": list(range(0, count, 2)), "B": list(range(1, count, 2))}
    rows: list[ManifestRow] = []
    mean_cue: dict[str, float] = {}
    bar = tqdm(total=count, desc="rendering faces", unit="img", disable=not progress)
    for domain, members in indices.items():
        is_test = choose_test_items(len(members), test_fraction, np.random.default_rng([seed, ord(domain)]))
        faces = [_render_indexed(index, seed, domain_ranges[domain], size) for index in members]
        cues = measure_age_cue([face for _, face in faces])
        mean_cue[domain] = float(cues.mean())
        for index, (age, face), cue, test in zip(members, faces, cues, is_test, strict=True):
            split = "test" if test else "train"
            relative = f"{SPLIT_FOLDERS[(split, domain)]}/{index:06d}.png"
            save_image(face, root / relative)
            rows.append(ManifestRow(relative, split, domain, {"age": round(age, 1), "cue": float(cue)}))
            bar.update(1)
    bar.close()
    rows.sort(key=lambda row: row.file)
    write_manifest(root, rows, ["age", "cue"])
    counts = split_counts(rows)
    write_dataset_json(
        root,
        name="synthetic",
        source="synthetic",
        domains=age_domains(young, old),
        image_size=size,
        crop={"template": "synthetic", "size": size, "padding": 0.0, "face_center": [0.5, 0.56]},
        extra={
            "seed": seed,
            "count": count,
            "test_fraction": test_fraction,
            "counts": counts,
            "cue": {"measure": "ageshift.data.synthetic.measure_age_cue", "mean_by_domain": mean_cue},
        },
    )
    return SyntheticDatasetReport(root, counts, mean_cue)


def make_utkface_named_folder(
    out: str | Path, count: int = 1200, size: int = 200, seed: int = 0, progress: bool = False
) -> list[Path]:
    """Write a flat folder of synthetic faces named like UTKFace (``age_gender_race_datetime.jpg.chip.jpg``).

    Ages are whole years uniform in 1-90, gender 0/1 and race 0-4 at random, so ``prepare utkface`` can be
    exercised end to end without the real download.

    Args:
        out: the folder (created); existing files are never overwritten.
        count: number of images.
        size: image side in pixels (UTKFace's aligned crops are 200²).
        seed: random seed.
        progress: show a progress bar.

    Returns:
        The written paths, in order.
    """
    from tqdm import tqdm

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for index in tqdm(range(count), desc="rendering faces", unit="img", disable=not progress):
        rng = np.random.default_rng([seed, index])
        age = int(rng.integers(1, 91))
        gender, race = int(rng.integers(2)), int(rng.integers(5))
        stamp = 20170101000000000 + index * 1_000_003 + seed
        path = root / f"{age}_{gender}_{race}_{stamp}.jpg.chip.jpg"
        if path.exists():
            raise DataError(f"{path}: already exists; choose an empty folder for --utkface-names")
        written.append(
            save_image(render_face(age + float(rng.uniform(0, 1)), random_identity(rng), size), path)
        )
    return written
