"""Distillation end to end: a tiny conditional teacher → ``ageshift distill`` (with a stop and resume) → a student
whose error against the teacher on held-out faces is lower than doing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ageshift
from ageshift.cli import main
from ageshift.data.synthetic import make_synthetic_dataset
from ageshift.errors import ConfigError
from ageshift.models.reager.data import held_out_faces
from ageshift.models.stargan import StarGANFamily


def tiny_teacher(folder: Path) -> Path:
    """A random conditional model: its "directed" generator's change grows with the target-minus-own condition."""
    config = StarGANFamily.model_config(
        "fast",
        {"generator": {"channels": 8, "num_res_blocks": 1}, "discriminator": {"channels": 4, "num_layers": 3},
         "image_size": 32, "age_range": [15, 85], "attributes": {}},
    )  # fmt: skip
    torch.manual_seed(3)
    model = StarGANFamily.build(config).eval()
    StarGANFamily.export(model, 32, {"crop": None}, {"family": "stargan"}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("distill")
    faces = root / "faces"
    make_synthetic_dataset(
        faces, count=60, size=32, all_ages=True, ages=(20, 80), attributes=(), test_fraction=0.2
    )
    return {"root": root, "faces": faces, "teacher": tiny_teacher(root / "teacher")}


def teacher_error(
    student: ageshift.Translator, teacher: ageshift.Translator, faces: torch.Tensor
) -> tuple[float, float]:
    """Mean |student − teacher| and |input − teacher| over held-out faces and three target ages."""
    current = teacher.estimate(faces)["age"]
    errors, baseline = [], []
    for age in (25.0, 50.0, 75.0):
        wanted = teacher.translate(faces, target_age=age)
        errors.append((student.translate(faces, target_age=age, current_age=current) - wanted).abs().mean())
        baseline.append((faces - wanted).abs().mean())
    return float(torch.stack(errors).mean()), float(torch.stack(baseline).mean())


@pytest.mark.slow
def test_distill_stop_resume_export_and_the_student_learns_the_teacher(setup: dict[str, Path]) -> None:
    from ageshift.training import TrainingInterrupted, train
    from ageshift.training.config import train_config

    root, faces, teacher_folder = setup["root"], setup["faces"], setup["teacher"]
    settings = [
        f"model.teacher={teacher_folder}", "model.age_range=[20, 80]", "model.age_estimator=cue",
        "model.perceptual=none", "model.channels=[8, 16, 32]", "learning_rate=0.003",
        "stages=[{size: 32, batch_size: 8, steps: 160}]", "sample_every=80", "checkpoint_every=40",
    ]  # fmt: skip
    config = train_config("fast", None, settings, family="reager")
    with pytest.raises(TrainingInterrupted):
        train(config, faces, root / "runs", quiet=True, should_stop=lambda step: step == 40)
    # `ageshift distill --resume` continues the newest run from its checkpoint, then exports it.
    code = None
    try:
        main(["distill", str(teacher_folder), "--out", str(root / "student"), "--runs", str(root / "runs"),
              "--resume", "-q"])  # fmt: skip
    except SystemExit as exit:
        code = exit.code
    assert code in (None, 0)
    run = next((root / "runs").iterdir())
    assert (run / "samples" / "step-0000160.png").is_file() and (run / "metrics.csv").is_file()
    student = ageshift.load(root / "student")
    assert student.family == "reager" and student.conditions.age == (20.0, 80.0)
    assert student.metadata["training"]["steps"] == 160
    assert any(entry["used_for"].startswith("distillation teacher") for entry in student.card["licences"])
    teacher = ageshift.load(teacher_folder)
    held_out = torch.from_numpy(held_out_faces(faces, 32))
    error, baseline = teacher_error(student, teacher, held_out)
    assert baseline > 0.02  # the teacher really changes faces
    assert error < 0.95 * baseline, (
        error,
        baseline,
    )  # a random teacher's change is hard to learn in 160 steps
    # A zero target-minus-current age is (close to) the identity; a large one is not.
    current = teacher.estimate(held_out)["age"]
    same = student.predict_delta(held_out, current.clamp(20, 80), current.clamp(20, 80)).abs().mean()
    far = student.predict_delta(held_out, 80.0, 20.0).abs().mean()
    assert same < 0.5 * far, (float(same), float(far))


def test_distill_refuses_bad_input_clearly(setup: dict[str, Path], tmp_path: Path) -> None:
    from ageshift.cli.distill import parse_ages

    assert parse_ages("20-80") == (20.0, 80.0)
    for text in ("80-20", "abc", "20"):
        with pytest.raises(ConfigError, match="--ages"):
            parse_ages(text)
    with pytest.raises(SystemExit) as exit:
        main(["distill", str(tmp_path / "missing"), "--data", str(setup["faces"]), "--out", str(tmp_path / "s"),
              "--runs", str(tmp_path / "runs"), "-q"])  # fmt: skip
    assert exit.value.code == 2
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
