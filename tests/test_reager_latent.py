"""A latent generator as the student's teacher: the packaged DCGAN walking an age direction makes both the faces
and their re-aged targets; ``ageshift distill dcgan`` trains and exports a student from them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("gan_face_generate")

import ageshift  # noqa: E402
from ageshift.image import resize  # noqa: E402
from ageshift.latent.directions import LatentDirection  # noqa: E402
from ageshift.models.reager.config import ReagerConfig  # noqa: E402
from ageshift.models.reager.latent_teacher import LatentTeacher, is_latent_teacher  # noqa: E402
from conftest import run_cli  # noqa: E402

YEARS_PER_STRENGTH = 10.0


@pytest.fixture(scope="module")
def direction(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An age direction for the packaged DCGAN along its first latent axis, measured at 10 years per strength."""
    vector = torch.zeros(100)
    vector[0] = 1.0
    folder = tmp_path_factory.mktemp("direction")
    LatentDirection(
        vector=vector, scale=1.0, method="ridge", generator_name="gan-face-generate-dcgan64",
        measured={"units_per_strength": YEARS_PER_STRENGTH},
    ).save(folder)  # fmt: skip
    return folder


def test_latent_teacher_pairs_follow_the_direction_and_replay(direction: Path, one_torch_thread) -> None:
    config = ReagerConfig(
        teacher="dcgan", teacher_direction=str(direction), age_estimator="cue", max_strength=2.0,
        identity_fraction=0.25, age_range=[20.0, 80.0],
    )  # fmt: skip
    teacher = LatentTeacher(config, progress=False)
    assert teacher.years_per_strength == YEARS_PER_STRENGTH
    pairs = teacher.sample(16, 32, torch.Generator().manual_seed(3))
    again = teacher.sample(16, 32, torch.Generator().manual_seed(3))
    assert all(torch.equal(pairs[key], again[key]) for key in pairs)  # a resumed run replays its pairs
    assert pairs["images"].shape == pairs["targets"].shape == (16, 3, 32, 32)
    change = pairs["target_age"] - pairs["current_age"]
    # No step beyond max_strength: the target age claims only the change the teacher made.
    assert change.abs().max() <= 2.0 * YEARS_PER_STRENGTH + 1e-4
    same = change.abs() < 1e-6
    moved = (pairs["targets"] - pairs["images"]).abs().flatten(1).mean(1)
    assert torch.all(moved[same] == 0)  # identity pairs: the target is the input exactly
    assert torch.all(moved[change.abs() > 5] > 0.01)  # the others really were re-rendered
    # The target is the generator's render of the latent moved by (target − current) / years per strength.
    latents = teacher.generator.sample_latents(16, torch.Generator().manual_seed(3))
    strength = change / YEARS_PER_STRENGTH
    expected = teacher.generator.synthesize(teacher.direction.apply(latents, strength))
    expected = resize(expected, 32)
    assert (expected[~same] - pairs["targets"][~same]).abs().max() < 0.05


def test_distill_from_the_packaged_dcgan_trains_and_exports_a_student(
    direction: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], one_torch_thread
) -> None:
    assert is_latent_teacher("dcgan") and not is_latent_teacher(str(tmp_path))
    args = [
        "distill", "dcgan", "--direction", str(direction), "--out", str(tmp_path / "student"),
        "--runs", str(tmp_path / "runs"), "--steps", "6", "--size", "32", "--age-estimator", "cue",
        "--set", "model.channels=[4,8]", "--set", "model.perceptual=none", "--set", "sample_every=6",
        "--set", "checkpoint_every=6",
    ]  # fmt: skip
    code, out, err = run_cli(args, capsys)
    assert code in (None, 0), out + err
    student = ageshift.load(tmp_path / "student")
    assert student.family == "reager" and student.image_size == 32
    licences = student.card["licences"]
    assert licences[0]["used_for"].startswith("distillation teacher")
    assert any(entry["name"] == "DigiFace-1M" for entry in licences)  # the DCGAN's own training data
    run = next((tmp_path / "runs").iterdir())
    assert (run / "samples" / "step-0000006.png").is_file()
    faces = torch.rand(2, 3, 32, 32) * 2 - 1
    assert student.translate(faces, target_age=70, current_age=30).shape == faces.shape
    # A latent teacher makes its own faces: a face folder is refused, naming the teacher.
    code, out, err = run_cli([*args[:2], "--data", str(tmp_path), "--out", str(tmp_path / "other")], capsys)
    assert code not in (None, 0) and "latent generator" in out + err and "Traceback" not in out + err
