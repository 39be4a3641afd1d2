"""Video: streaming decode/encode with audio, atomic output, face tracking, smoothing and stabilisation.

The clips are made here from scikit-image's public-domain ``astronaut`` with known motion (pan, zoom, rotation,
brightness), rendered to MP4, with a sine tone muxed in by the ffmpeg binary."""

from __future__ import annotations

import json
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("imageio_ffmpeg")
skimage_data = pytest.importorskip("skimage.data")

from ageshift.faces.types import FaceDetection  # noqa: E402
from ageshift.video.io import VideoError, VideoWriter, count_frames, open_video, probe_video  # noqa: E402
from ageshift.video.stabilise import TemporalStabiliser  # noqa: E402
from ageshift.video.track import FaceTracker, OneEuroFilter, estimate_shift  # noqa: E402
from conftest import run_cli  # noqa: E402

FPS, SIZE, FRAMES = 24, (128, 96), 24


def _astronaut_frames(count: int = FRAMES, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """Pan right, zoom in, rotate a little and brighten: frame pixel p shows astronaut at A_t p."""
    photo = Image.fromarray(skimage_data.astronaut())
    frames = []
    for t in range(count):
        scale = 2.2 / (1.0 + 0.01 * t)  # source pixels per frame pixel
        angle = np.deg2rad(0.3 * t)
        cos, sin = scale * np.cos(angle), scale * np.sin(angle)
        centre = np.array([250.0 + 1.5 * t, 120.0])
        # frame centre maps to `centre` in the astronaut photo
        offset = centre - np.array([[cos, -sin], [sin, cos]]) @ np.array([size[0] / 2, size[1] / 2])
        frame = photo.transform(
            size,
            Image.Transform.AFFINE,
            (cos, -sin, offset[0], sin, cos, offset[1]),
            Image.Resampling.BICUBIC,
        )
        frames.append(np.clip(np.asarray(frame, np.float32) * (1.0 + 0.005 * t), 0, 255).astype(np.uint8))
    return frames


def _write_clip(path: Path, frames: list[np.ndarray], tone: bool = False) -> Path:
    """Frames to H.264 MP4; with ``tone``, a 440 Hz sine track muxed in by the ffmpeg binary."""
    import imageio_ffmpeg

    silent = path.with_name(f"silent_{path.name}") if tone else path
    writer = imageio_ffmpeg.write_frames(
        str(silent), frames[0].shape[1::-1], fps=FPS, quality=9, macro_block_size=1, ffmpeg_log_level="error"
    )
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    if tone:
        sound = path.with_name("tone.wav")
        rate = 16000
        samples = (8000 * np.sin(2 * np.pi * 440 * np.arange(rate * len(frames) // FPS) / rate)).astype("<i2")
        with wave.open(str(sound), "wb") as stream:
            stream.setnchannels(1)
            stream.setsampwidth(2)
            stream.setframerate(rate)
            stream.writeframes(samples.tobytes())
        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
        subprocess.run(
            [ffmpeg, "-y", "-v", "error", "-i", silent, "-i", sound, "-map", "0:v", "-map", "1:a",
             "-c:v", "copy", "-c:a", "aac", str(path)],
            check=True,
        )  # fmt: skip
    return path


def _decoded(path: Path) -> list[np.ndarray]:
    with open_video(path) as (_, frames):
        return [frame.copy() for frame in frames]


def test_frame_count_rate_size_and_audio_are_kept(tmp_path, capsys, one_torch_thread):
    clip = _write_clip(tmp_path / "clip.mp4", _astronaut_frames(), tone=True)
    out, report = tmp_path / "aged.mp4", tmp_path / "faces.json"
    code, stdout, stderr = run_cli(
        ["age", clip, "--model", "identity", "--direction", "older", "--out", out, "--report", report,
         "--min-face-size", "20"],
        capsys,
    )  # fmt: skip
    assert code == 0, stderr
    source, result = probe_video(clip), probe_video(out)
    assert result.fps == source.fps == FPS
    assert result.size == source.size == SIZE
    assert result.audio_codec == "aac"
    assert count_frames(out) == count_frames(clip) == FRAMES
    faces = json.loads(report.read_text())["videos"][0]["faces"]
    assert len(faces) == 1 and len(faces[0]["frames"]) == FRAMES
    # identity model: the output is the input within codec tolerance
    difference = np.abs(np.stack(_decoded(out)).astype(int) - np.stack(_decoded(clip)).astype(int)).mean()
    assert difference < 3.0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_video_without_faces_passes_through_unchanged(tmp_path, capsys):
    x = np.linspace(0, 255, SIZE[0])[None, :, None]
    frames = [np.broadcast_to((x + 4 * t) % 256, (SIZE[1], SIZE[0], 3)).astype(np.uint8) for t in range(12)]
    clip = _write_clip(tmp_path / "plain.mov", frames)
    out = tmp_path / "out"
    code, _, stderr = run_cli(
        ["age", clip, "--model", "identity", "--direction", "older", "--out", out], capsys
    )
    assert code == 0, stderr
    written = out / "plain.mp4"
    assert probe_video(written).audio_codec is None
    difference = np.abs(np.stack(_decoded(written)).astype(int) - np.stack(_decoded(clip)).astype(int))
    assert difference.mean() < 1.5 and len(difference) == 12


def test_truncated_or_non_video_file_gives_one_clear_line(tmp_path, capsys):
    clip = _write_clip(tmp_path / "clip.mp4", _astronaut_frames(8))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    text = tmp_path / "notes.mkv"
    text.write_text("not a video")
    for bad in (truncated, text):
        code, _, stderr = run_cli(["age", bad, "--model", "identity", "--direction", "older", "--out",
                                   tmp_path / "x.mp4"], capsys)  # fmt: skip
        assert code == 2
        assert len(stderr.strip().splitlines()) == 1 and bad.name in stderr and "video" in stderr
        assert not (tmp_path / "x.mp4").exists()
    with pytest.raises(VideoError, match="not a readable video"):
        probe_video(text)
    # a file cut after a header at its start (faststart MP4) decodes up to the cut: written, with a warning
    import imageio_ffmpeg

    faststart = tmp_path / "faststart.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-i", clip, "-c", "copy", "-movflags",
                    "+faststart", faststart], check=True)  # fmt: skip
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(faststart.read_bytes()[: faststart.stat().st_size // 2])
    code, _, stderr = run_cli(["age", cut, "--model", "identity", "--direction", "older", "--out",
                               tmp_path / "cut_out.mp4", "--min-face-size", "20"], capsys)  # fmt: skip
    assert code == 0 and "truncated" in stderr and "cut.mp4" in stderr
    assert 0 < count_frames(tmp_path / "cut_out.mp4") < 8
    # among several videos, an unreadable one is skipped (listed, exit 1) and the others are written
    code, _, stderr = run_cli(["age", clip, truncated, "--model", "identity", "--direction", "older", "--out",
                               tmp_path / "many", "--min-face-size", "20"], capsys)  # fmt: skip
    assert code == 1 and "truncated.mp4" in stderr
    assert [path.name for path in (tmp_path / "many").iterdir()] == ["clip.mp4"]


def test_output_equal_to_input_is_refused_and_photos_only_options_too(tmp_path, capsys):
    clip = _write_clip(tmp_path / "clip.mp4", _astronaut_frames(4))
    before = clip.read_bytes()
    for extra in (["--out", clip], ["--out", tmp_path / "o.mp4", "--whole-image"]):
        code, _, stderr = run_cli(
            ["age", clip, "--model", "identity", "--direction", "older", *extra], capsys
        )
        assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert clip.read_bytes() == before


def test_writer_leaves_no_file_or_the_previous_one_on_error(tmp_path):
    target = tmp_path / "v.mp4"
    frame = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    with pytest.raises(KeyboardInterrupt), VideoWriter(target, FPS, SIZE) as writer:
        writer.write(frame)
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError), VideoWriter(target, FPS, SIZE) as writer:
        writer.write(frame)
        raise RuntimeError("crash")
    assert target.read_bytes() == b"previous" and list(tmp_path.iterdir()) == [target]
    with VideoWriter(target, FPS, (SIZE[0] - 1, SIZE[1] - 1)) as writer:  # odd size: padded to even
        writer.write(frame[:-1, :-1])
    assert probe_video(target).size == SIZE


def _two_faces_moving_apart(count: int = 10) -> list[np.ndarray]:
    face = Image.fromarray(skimage_data.astronaut()).crop((140, 20, 340, 240)).resize((80, 88))
    frames = []
    for t in range(count):
        canvas = Image.new("RGB", (320, 128), (90, 100, 110))
        canvas.paste(face, (75 - 6 * t, 20))
        canvas.paste(face, (165 + 6 * t, 20))
        frames.append(np.asarray(canvas))
    return frames


def test_tracking_keeps_identities_for_two_faces_moving_apart(tmp_path, capsys, one_torch_thread):
    clip = _write_clip(tmp_path / "two.mp4", _two_faces_moving_apart())
    report = tmp_path / "r.json"
    code, _, stderr = run_cli(
        ["age", clip, "--model", "identity", "--direction", "older", "--out", tmp_path / "o.mp4",
         "--report", report, "--detect-every", "3", "--min-face-size", "30"],
        capsys,
    )  # fmt: skip
    assert code == 0, stderr
    faces = json.loads(report.read_text())["videos"][0]["faces"]
    assert [face["track_id"] for face in faces] == [0, 1]
    for face in faces:
        assert len(face["frames"]) == 10
        centres = [(box[0] + box[2]) / 2 for box in face["boxes"]]
        steps = np.sign(np.diff(centres[::3]))
        assert abs(steps.sum()) == len(steps)  # each track moves one way only: identities never swap
    starts = sorted((face["boxes"][0][0], face["boxes"][-1][0]) for face in faces)
    assert starts[0][1] < starts[0][0] and starts[1][1] > starts[1][0]


def _detection(x: float, y: float, side: float = 40.0) -> FaceDetection:
    eyes = [[x + 0.3 * side, y + 0.4 * side], [x + 0.7 * side, y + 0.4 * side]]
    rest = [
        [x + 0.5 * side, y + 0.6 * side],
        [x + 0.35 * side, y + 0.8 * side],
        [x + 0.65 * side, y + 0.8 * side],
    ]
    return FaceDetection((x, y, x + side, y + side), np.array(eyes + rest), 0.99)


def test_tracker_crossing_faces_new_faces_and_leaving_faces():
    tracker = FaceTracker(fps=24, smooth=0.0, max_missed=1)
    for t in range(12):  # two faces cross: greedy IoU on small steps keeps both identities
        tracks = tracker.update([_detection(100 - 5 * t, 50), _detection(40 + 5 * t, 52)])
        by_id = {track.track_id: track.detection.box[0] for track in tracks}
        assert by_id == {0: 100 - 5 * t, 1: 40 + 5 * t}
    tracker.update([_detection(98, 52)])  # face 0 (now at x=45) missed once: kept
    assert [track.track_id for track in tracker.active] == [0, 1]
    tracks = tracker.update([_detection(101, 52), _detection(300, 10)])  # missed twice: ended; a new face
    assert [track.track_id for track in tracks] == [1, 2]
    assert [track.track_id for track in tracker.all_tracks()] == [0, 1, 2]


def test_one_euro_filter_removes_jitter_and_follows_motion():
    rng = np.random.default_rng(0)
    smooth = OneEuroFilter(min_cutoff=1.0, beta=0.7)
    still = [smooth(np.array([50.0]) + rng.normal(0, 1.0, 1), 1 / 24, 40.0)[0] for _ in range(48)]
    assert np.std(np.diff(still[12:])) < 0.35  # raw jitter: std of differences ≈ 1.41
    moving = OneEuroFilter(min_cutoff=1.0, beta=0.7)
    ramp = [moving(np.array([4.0 * t]), 1 / 24, 40.0)[0] for t in range(48)]
    assert 4.0 * 47 - ramp[-1] < 12.0  # a face moving 96 px/s lags by less than 3 frames


def test_estimate_shift_recovers_a_known_pan():
    grey = np.asarray(Image.fromarray(skimage_data.astronaut()).convert("L"), np.float32)
    moved = np.roll(grey, (3, -5), axis=(0, 1))
    assert np.allclose(estimate_shift(grey, moved, (150, 50, 320, 230)), [-5.0, 3.0], atol=0.5)


def test_stabiliser_damps_flicker_but_follows_a_real_change():
    rng = np.random.default_rng(1)
    crop = Image.fromarray(rng.integers(60, 200, (32, 32, 3), dtype=np.uint8))
    base = np.asarray(crop, np.float32)
    stabiliser = TemporalStabiliser(strength=0.6)
    matrix = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    raw = _detection(0, 0).landmarks
    outputs = []
    for _ in range(30):
        noisy = Image.fromarray(np.clip(base + 20 + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8))
        outputs.append(np.asarray(stabiliser.blend(0, crop, noisy, matrix, raw), np.float32))
    flicker = np.abs(np.diff(np.stack(outputs[5:]), axis=0)).mean()
    assert flicker < 0.6 * 6 * 2 / np.sqrt(np.pi)  # plain frame by frame: E|N(0,6)-N(0,6)| ≈ 6.8
    assert abs((outputs[-1] - base).mean() - 20) < 2  # the edit itself is kept
    jump = Image.fromarray(np.clip(base - 80, 0, 255).astype(np.uint8))  # a big change wins at once
    after = np.asarray(stabiliser.blend(0, crop, jump, matrix, raw), np.float32)
    assert np.abs(after - np.asarray(jump, np.float32)).mean() < 5


def test_ctrl_c_leaves_no_file_at_the_target(tmp_path):
    import os
    import signal
    import sys
    import time

    frames = _astronaut_frames(8)
    clip = _write_clip(tmp_path / "long.mp4", [frames[t % 8] for t in range(400)], tone=True)
    target = tmp_path / "out" / "aged.mp4"
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", "from ageshift.cli import main; main()", "age", str(clip),
               "--model", "identity", "--direction", "older", "--out", str(target), "--min-face-size", "20"]  # fmt: skip
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(target.parent.glob(".aged.*")):
        time.sleep(0.05)
    time.sleep(0.3)  # some frames encoded
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert not target.exists() and list(target.parent.iterdir()) == []


@pytest.mark.parametrize("every", [1, 5])
def test_identities_survive_one_face_passing_in_front_of_the_other(tmp_path, every, one_torch_thread):
    from ageshift import load
    from ageshift.video.pipeline import age_video

    face = Image.fromarray(skimage_data.astronaut()).crop((140, 20, 340, 240)).resize((80, 88))
    frames = []
    for t in range(40):
        canvas = Image.new("RGB", (400, 128), (90, 100, 110))
        canvas.paste(face, (20 + 7 * t, 20))  # behind, moving right
        canvas.paste(
            face.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (300 - 7 * t, 30)
        )  # in front, moving left
        frames.append(np.asarray(canvas))
    clip = _write_clip(tmp_path / "cross.mp4", frames)
    result = age_video(clip, tmp_path / "o.mp4", load("identity"), {"direction": "older"}, detect_every=every,
                       min_face_size=30)  # fmt: skip
    assert [track.track_id for track in result.tracks] == [0, 1]  # the hidden face got its id back
    behind, front = result.tracks
    assert behind.frames[0] == 0 and behind.frames[-1] == 39 and front.frames == list(range(40))
    assert behind.boxes[-1][0] > 250 and front.boxes[-1][0] < 100  # each id ends where its face went


def test_web_page_video_section_ages_a_short_clip_and_refuses_long_ones(tmp_path, one_torch_thread):
    """The page's video section: the same pipeline as ``age clip.mp4``, under the page's limits."""
    from ageshift.models.translator import load
    from ageshift.web.video import process_video

    clip = _write_clip(tmp_path / "clip.mp4", _astronaut_frames(), tone=True)
    before = clip.read_bytes()
    request = {"direction": "older", "target_age": None, "attributes": {}, "strength": None}
    identity = load("identity")
    result = process_video(clip, translator=identity, request=request, out_folder=tmp_path / "out")
    assert result.video is not None and "sound kept" in result.message, result.message
    assert len(_decoded(Path(result.video))) == FRAMES and clip.read_bytes() == before
    too_long = process_video(clip, translator=identity, request=request, max_seconds=0.1, out_folder=tmp_path)
    assert too_long.video is None and "limit" in too_long.message
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"x")
    assert process_video(photo, translator=identity, request=request).video is None
    assert process_video(None, translator=identity, request=request).message.startswith("Please upload")
