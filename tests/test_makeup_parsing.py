"""MT's face-parsing maps (``segs/``) as the source of the makeup training masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import run_cli

from ageshift.errors import AgeshiftError, DataError
from ageshift.faces.regions import MT_PARSING_LABELS, parse_label_spec, parsing_masks, region_masks
from ageshift.models.beautygan.data import (
    LANDMARKS_FILE,
    MakeupData,
    held_out_pairs,
    make_synthetic_makeup,
    prepare_makeup_folder,
)

SIZE = 32


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("parsing") / "data"
    make_synthetic_makeup(root, count=4, size=SIZE, seed=5, test_fraction=0.0)
    return root


def _label_map(points: np.ndarray) -> np.ndarray:
    """An MT-labelled map of a drawn face whose lips are deliberately a rectangle, unlike the landmark lips:
    masks that follow the map can be told from masks drawn from the landmarks."""
    drawn = region_masks(points, SIZE)
    labels = np.zeros((SIZE, SIZE), dtype=np.uint8)
    labels[drawn.skin | drawn.eyes] = 4  # MT's face
    eye_rows, eye_columns = np.nonzero(drawn.eyes)
    labels[int(eye_rows.mean()), int(eye_columns.min()) : int(eye_columns.max())] = (
        1  # an "eye" inside a ring
    )
    x0, y0 = np.floor(points[48:60].min(0)).astype(int)
    x1, y1 = np.ceil(points[48:60].max(0)).astype(int)
    labels[y0 : (y0 + y1) // 2, x0:x1] = 9  # upper lip
    labels[(y0 + y1) // 2 : y1, x0:x1] = 13  # lower lip
    return labels


@pytest.fixture
def mt_folder(tmp_path: Path, synthetic: Path) -> tuple[Path, dict[str, np.ndarray], object]:
    """A small MT-layout folder with segs/, and a landmark finder standing in for dlib."""
    source = tmp_path / "MT"
    points = json.loads((synthetic / LANDMARKS_FILE).read_text())["points"]
    known: dict[bytes, np.ndarray] = {}
    maps: dict[str, np.ndarray] = {}
    for folder in ("makeup", "non-makeup"):
        for directory in ("images", "segs"):
            (source / directory / folder).mkdir(parents=True)
        for path in sorted((synthetic / "images" / folder).glob("*.png")):
            image = Image.open(path).convert("RGB")
            image.save(source / "images" / folder / path.name)
            face_points = np.asarray(points[path.relative_to(synthetic).as_posix()])
            known[np.asarray(image).tobytes()] = face_points
            maps[f"{folder}/{path.name}"] = _label_map(face_points)
            Image.fromarray(maps[f"{folder}/{path.name}"], mode="L").save(
                source / "segs" / folder / path.name
            )

    def landmarks(image: Image.Image) -> np.ndarray:
        found = known.get(np.asarray(image.convert("RGB")).tobytes())
        if found is None:
            raise DataError("no face")
        return found

    return source, maps, landmarks


def test_parsing_masks_follow_the_map_and_keep_rings_off_eyes() -> None:
    points = _synthetic_points()
    labels = _label_map(points)
    masks = parsing_masks(labels, points)
    assert np.array_equal(masks.lips, np.isin(labels, (9, 13)))
    assert not (masks.eyes & (labels == 1)).any() and masks.eyes.any()
    assert not (masks.skin & masks.eyes).any() and not (masks.skin & masks.lips).any()
    assert np.array_equal(masks.skin | masks.eyes, labels == 4)
    # another labelling is refused with what the map holds, not silently turned into empty masks
    with pytest.raises(AgeshiftError, match=r"no lips pixels .*--parsing-labels"):
        parsing_masks(np.where(np.isin(labels, (9, 13)), 3, labels), points)
    with pytest.raises(AgeshiftError, match="one channel"):
        parsing_masks(np.stack([labels] * 3, -1), points)


def _synthetic_points() -> np.ndarray:
    from ageshift.data.synthetic_makeup import makeup_identity, random_makeup, render_made_up_face

    rng = np.random.default_rng(0)
    _, points = render_made_up_face(makeup_identity(rng), random_makeup(rng), SIZE)
    return np.asarray(points)


def test_label_spec() -> None:
    assert parse_label_spec("lips=7,9 skin=1,6") == {"lips": (7, 9), "skin": (1, 6)}
    assert parse_label_spec("skin=1") == {"lips": MT_PARSING_LABELS["lips"], "skin": (1,)}
    with pytest.raises(AgeshiftError, match="unknown region 'teeth'"):
        parse_label_spec("teeth=11")
    with pytest.raises(AgeshiftError, match="REGION=N"):
        parse_label_spec("lips=a,b")


def test_prepare_reads_parsing_maps_and_training_uses_them(mt_folder, tmp_path: Path) -> None:
    source, maps, landmarks = mt_folder
    before = {p: p.read_bytes() for p in source.rglob("*.png")}
    prepared = prepare_makeup_folder(
        source, tmp_path / "out", size=SIZE, test_fraction=0.0, landmarks=landmarks
    )
    assert {p: p.read_bytes() for p in source.rglob("*.png")} == before  # the download is only read
    assert prepared.parsed == 8 and not prepared.skipped
    index = json.loads((tmp_path / "out" / LANDMARKS_FILE).read_text())
    assert "parsing" in index["origin"]["masks"] and len(index["masks"]) == 8
    data = MakeupData(tmp_path / "out", SIZE, seed=0, config=None, progress=False)
    for stream, folder in (("source", "non-makeup"), ("reference", "makeup")):
        faces = data.train[stream]
        for masks, path in zip(faces.masks, faces.files, strict=True):
            labels = maps[f"{folder}/{path.name}"]
            assert np.array_equal(masks[0].numpy() > 0, np.isin(labels, (9, 13)))  # the map's lips
            assert not (masks[1].numpy() > 0)[labels == 1].any()
    # at another stage size the stored masks are resized with their faces
    small = MakeupData(tmp_path / "out", 16, seed=0, config=None, progress=False)
    assert small.train["source"].masks.shape == (4, 3, 16, 16) and small.train["source"].masks[:, 0].any()
    pairs = held_out_pairs(tmp_path / "out", SIZE, count=2)
    assert torch.equal(pairs["source_masks"][0], data.train["source"].masks[0].bool())


def test_landmark_masks_when_asked_or_without_segs(mt_folder, tmp_path: Path) -> None:
    source, maps, landmarks = mt_folder
    prepared = prepare_makeup_folder(
        source, tmp_path / "lm", size=SIZE, test_fraction=0.0, landmarks=landmarks, masks="landmarks"
    )
    assert prepared.parsed == 0 and not (tmp_path / "lm" / "masks").exists()
    data = MakeupData(tmp_path / "lm", SIZE, seed=0, config=None, progress=False)
    faces = data.train["source"]
    expected = region_masks(faces.points[0], SIZE).stack()
    assert np.array_equal(faces.masks[0].numpy(), expected)
    for path in (source / "segs").rglob("*.png"):
        path.unlink()
    (source / "segs" / "makeup").rmdir()
    (source / "segs" / "non-makeup").rmdir()
    (source / "segs").rmdir()
    auto = prepare_makeup_folder(source, tmp_path / "auto", size=SIZE, test_fraction=0.0, landmarks=landmarks)
    assert auto.parsed == 0
    with pytest.raises(DataError, match="no segs/ folder"):
        prepare_makeup_folder(source, tmp_path / "p", size=SIZE, landmarks=landmarks, masks="parsing")


def test_bad_parsing_maps_are_skipped_by_name(mt_folder, tmp_path: Path) -> None:
    source, maps, landmarks = mt_folder
    names = sorted(maps)
    chosen = names[:2] + names[-2:]  # two of each stream
    missing, wrong_size, colour, other_labels = (source / "segs" / name for name in chosen)
    missing.unlink()
    Image.fromarray(maps[chosen[1]]).resize((16, 16)).save(wrong_size)
    Image.new("RGB", (SIZE, SIZE), (1, 2, 3)).save(colour)
    relabelled = maps[chosen[3]].copy()
    relabelled[np.isin(relabelled, (9, 13))] = 7
    Image.fromarray(relabelled).save(other_labels)
    prepared = prepare_makeup_folder(
        source, tmp_path / "out", size=SIZE, test_fraction=0.0, landmarks=landmarks
    )
    reasons = {item.path.name: item.reason for item in prepared.skipped}
    assert len(reasons) == 4 and prepared.parsed == 4
    assert "no face-parsing map at" in reasons[missing.name]
    assert "parsing map is 16×16, its image 32×32" in reasons[wrong_size.name]
    assert "one channel of labels" in reasons[colour.name]
    assert "no lips pixels" in reasons[other_labels.name]
    # the same folder read with that map's labelling keeps it
    again = prepare_makeup_folder(
        source, tmp_path / "again", size=SIZE, test_fraction=0.0, landmarks=landmarks,
        parsing_labels=parse_label_spec("lips=7,9,13"),
    )  # fmt: skip
    assert other_labels.name not in {item.path.name for item in again.skipped}


def test_prepare_cli_mask_options(mt_folder, tmp_path: Path, capsys) -> None:
    source, _, _ = mt_folder
    code, _, err = run_cli(["prepare", "makeup", source, "--out", tmp_path / "o", "--masks", "segs"], capsys)
    assert code == 2 and "--masks must be one of auto, parsing, landmarks" in err
    code, _, err = run_cli(
        ["prepare", "makeup", source, "--out", tmp_path / "o", "--parsing-labels", "nose=8"], capsys
    )
    assert code == 2 and "unknown region 'nose'" in err and "Traceback" not in err
    code, _, err = run_cli(
        ["prepare", "makeup", "--synthetic", "--out", tmp_path / "s", "--masks", "parsing"], capsys
    )
    assert code == 2 and "not to --synthetic" in err
