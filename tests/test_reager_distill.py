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


def _distil_with_cache(setup: dict[str, Path], tmp_path: Path, cache: Path, *extra: str) -> int | str | None:
    try:
        main(["distill", str(setup["teacher"]), "--data", str(setup["faces"]), "--out", str(tmp_path / "student"),
              "--runs", str(tmp_path / "runs"), "--cache", str(cache), "--steps", "4", "--size", "32",
              "--age-estimator", "cue", "--set", "model.perceptual=none", "--set", "model.channels=[4, 8]",
              "--overwrite", "-q", *extra])  # fmt: skip
    except SystemExit as exit:
        return exit.code
    return None


def test_cached_pairs_are_made_once_resume_after_a_crash_and_refuse_other_settings(
    setup: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from ageshift.models.reager import data as distill_data
    from ageshift.models.reager import pair_cache

    faces = len(list((setup["faces"] / "train").rglob("*.png")))
    real_pairs, calls = distill_data.Teacher.pairs, []

    def crashing(self, images, random, identity_fraction=None):
        calls.append(len(images))
        if len(calls) == 3:
            raise KeyboardInterrupt  # the machine stops in the middle of the third batch
        return real_pairs(self, images, random, identity_fraction)

    monkeypatch.setattr(distill_data.Teacher, "pairs", crashing)
    cache = tmp_path / "pairs"
    assert _distil_with_cache(setup, tmp_path, cache, "--pairs-per-face", "2") not in (None, 0)
    index = json.loads((cache / "size-32" / "pairs.json").read_text())
    assert len(index["entries"]) == 16 and not index["complete"]  # two whole batches were kept
    monkeypatch.setattr(distill_data.Teacher, "pairs", real_pairs)
    assert _distil_with_cache(setup, tmp_path, cache, "--pairs-per-face", "2") in (None, 0)
    index = json.loads((cache / "size-32" / "pairs.json").read_text())
    assert index["complete"] and len(index["entries"]) == 2 * faces
    assert len({entry["target_age"] for entry in index["entries"]}) == 2 * faces  # fresh ages per pair
    assert ageshift.load(tmp_path / "student").family == "reager"
    # The same ages as a build that never stopped: each batch's draw depends on its position only.
    fresh = tmp_path / "fresh"
    assert _distil_with_cache(setup, tmp_path, fresh, "--pairs-per-face", "2") in (None, 0)
    again = json.loads((fresh / "size-32" / "pairs.json").read_text())
    assert [entry["target_age"] for entry in again["entries"]] == [e["target_age"] for e in index["entries"]]

    def never(*args, **kwargs):
        raise AssertionError("the teacher ran although the pairs were cached")

    monkeypatch.setattr(distill_data.Teacher, "pairs", never)
    assert _distil_with_cache(setup, tmp_path, cache, "--pairs-per-face", "2") in (None, 0)
    capsys.readouterr()
    assert _distil_with_cache(setup, tmp_path, cache, "--pairs-per-face", "3") not in (None, 0)
    message = capsys.readouterr().err
    assert "other settings" in message and "per_face 2 (asked: 3)" in message and "Traceback" not in message
    assert pair_cache.FORMAT in (cache / "size-32" / "pairs.json").read_text()
