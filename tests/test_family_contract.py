"""The model-family contract, proved by two dummy families registered inside the test.

One family trains on unpaired ``trainA/``/``trainB/`` folders and exports a two-direction translator; the
other trains on labelled images (``manifest.csv`` + ``dataset.json`` labels) and exports a translator that
takes a target age and a hair colour. Each goes train → checkpoint → stop → resume → export →
``ageshift.load`` → translate through the generic code only (trainer, export, loader, CLI); nothing here
calls a family's own code except through the registry.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from tests.conftest import cli_exit_code, random_image
from torch import nn

import ageshift
from ageshift import registry
from ageshift.config import to_dict
from ageshift.errors import ConfigError, ModelLoadError
from ageshift.image import make_grid
from ageshift.models.conditions import Condition, ConditionError, ConditionSpec
from ageshift.models.family import (
    Batch,
    ModelFamily,
    Phase,
    PhaseOutput,
    StepContext,
    TrainingModel,
    load_networks,
)
from ageshift.models.translator import Translator
from ageshift.pretrained import Pretrained
from ageshift.training import (
    TrainingInterrupted,
    export_run,
    list_checkpoints,
    load_checkpoint,
    train,
    train_config,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 16
STEPS = 6
#: Stopping after an odd step puts the resume in the middle of the every-2 discriminator cycle.
STOP_AT = 3
HAIR = ["dark", "grey", "blond"]
AGES = (10, 80)


# --- the dummy families -----------------------------------------------------------------------------------


@dataclass
class DummyConfig:
    """Networks of both dummy families: 1×1-conv generators and a two-layer discriminator."""

    image_size: int = 64
    discriminator_channels: int = 4
    #: std of the input noise the generator phase draws from the trainer's generator (resume must replay it).
    noise: float = 0.05
    #: the label schema of labelled data (``dataset.json`` ``labels``), filled by ``adapt_to_data``.
    labels: dict[str, Any] = field(default_factory=dict)


def discriminator(config: DummyConfig) -> nn.Module:
    channels = config.discriminator_channels
    return nn.Sequential(
        nn.Conv2d(3, channels, 4, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(channels, 1, 3, padding=1),
    )


def pixel_generator(in_channels: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, 3, 1), nn.Tanh())


def lsgan(prediction: torch.Tensor, target: float | torch.Tensor) -> torch.Tensor:
    return ((prediction - target) ** 2).mean()


class DummyModel(TrainingModel):
    """The shared part: a discriminator, two phases (discriminator every 2 steps) and a step counter."""

    def __init__(self, config: DummyConfig, generators: dict[str, nn.Module]) -> None:
        super().__init__()
        self.config = config
        self.generators = nn.ModuleDict(generators)
        self.discriminator = discriminator(config)
        # Family state, not a buffer: only family_state()/load_family_state() carry it across a resume.
        self.steps_seen = torch.zeros((), dtype=torch.int64)

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "generator": list(self.generators.parameters()),
            "discriminator": list(self.discriminator.parameters()),
        }

    def phases(self) -> list[Phase]:
        return [Phase("generator", "generator"), Phase("discriminator", "discriminator", every=2)]

    def run_phase(
        self, phase: Phase, batch: Batch, carry: dict[str, Any], context: StepContext
    ) -> PhaseOutput:
        if phase.name == "generator":
            real, fake, reconstruction_loss = self.generate(batch, context)
            loss = lsgan(self.discriminator(fake), 1.0) + reconstruction_loss
            return PhaseOutput(loss, {"g_total": loss.detach()}, {"fake": fake.detach(), "real": real})
        # Label smoothing drawn from the global RNG, so the resume must restore that one too.
        real_target = 1.0 - 0.1 * torch.rand(())
        loss = lsgan(self.discriminator(carry["real"]), real_target) + lsgan(
            self.discriminator(carry["fake"]), 0.0
        )
        return PhaseOutput(loss, {"d_total": loss.detach()})

    def generate(self, batch: Batch, context: StepContext) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(real images of the target domain, generated ones, reconstruction loss)."""
        raise NotImplementedError

    def noisy(self, images: torch.Tensor, context: StepContext) -> torch.Tensor:
        noise = torch.randn(images.shape, generator=context.random) * self.config.noise
        return images + noise.to(images.device)

    def family_state(self) -> dict[str, Any]:
        return {"steps_seen": self.steps_seen.clone()}

    def load_family_state(self, state: dict[str, Any], device: torch.device) -> None:
        self.steps_seen = state["steps_seen"].clone()

    def end_step(self, context: StepContext) -> None:
        self.steps_seen += 1


class DummyTwoDomainModel(DummyModel):
    """``older`` maps A→B, ``younger`` B→A; the discriminator judges domain B."""

    def __init__(self, config: DummyConfig) -> None:
        super().__init__(config, {"older": pixel_generator(3), "younger": pixel_generator(3)})

    def generate(self, batch: Batch, context: StepContext) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fake_old = self.generators["older"](self.noisy(batch["A"], context))
        cycle = F.l1_loss(self.generators["younger"](fake_old), batch["A"])
        return batch["B"], fake_old, cycle

    @torch.no_grad()
    def sample_grid(self, samples: Batch) -> torch.Tensor:
        young, old = samples["A"], samples["B"]
        rows = [young, self.generators["older"](young), old, self.generators["younger"](old)]
        return make_grid([row.cpu() for row in rows])


def condition_planes(
    labels: dict[str, Any], ages: torch.Tensor, hair: torch.Tensor, size: int
) -> torch.Tensor:
    """``(B, 1 + len(hair values), size, size)``: the age scaled to [-1, 1] and the hair colour one-hot
    (all zeros for ``-1``, an unspecified colour)."""
    low, high = labels["age"]["min"], labels["age"]["max"]
    age = (ages.float() - low) / (high - low) * 2 - 1
    values = len(labels["attributes"]["hair"])
    one_hot = F.one_hot(hair.clamp(min=0), values).float() * (hair >= 0).float().unsqueeze(1)
    planes = torch.cat([age.unsqueeze(1), one_hot], dim=1)
    return planes[:, :, None, None].expand(-1, -1, size, size)


class DummyConditionalModel(DummyModel):
    """One generator of images plus condition planes; targets are drawn from the data's own labels."""

    def __init__(self, config: DummyConfig) -> None:
        if not config.labels:
            raise ConfigError("the dummy conditional family needs labels (adapt_to_data fills them)")
        super().__init__(
            config, {"generator": pixel_generator(3 + 1 + len(config.labels["attributes"]["hair"]))}
        )

    def translate(self, images: torch.Tensor, ages: torch.Tensor, hair: torch.Tensor) -> torch.Tensor:
        planes = condition_planes(self.config.labels, ages, hair, images.shape[-1]).to(images.device)
        return self.generators["generator"](torch.cat([images, planes], dim=1))

    def generate(self, batch: Batch, context: StepContext) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        assert context.sample_targets is not None
        images = batch["images"]
        targets = context.sample_targets(images.shape[0])
        fake = self.translate(self.noisy(images, context), targets["age"], targets["hair"])
        return images, fake, F.l1_loss(fake, images)

    @torch.no_grad()
    def sample_grid(self, samples: Batch) -> torch.Tensor:
        images = samples["images"]
        count = images.shape[0]
        rows = [images] + [
            self.translate(images, torch.full((count,), 50.0), torch.full((count,), value))
            for value in range(len(HAIR))
        ]
        return make_grid([row.cpu() for row in rows])


class DummyTwoDomainTranslator(Translator):
    """What the unpaired dummy family exports: ``older``/``younger`` pixel generators."""

    def __init__(
        self, generators: dict[str, nn.Module], model_config: dict, image_size: int, **info: Any
    ) -> None:
        spec = ConditionSpec(directions=tuple(generators))
        super().__init__(generators, DummyUnpairedFamily.name, model_config, image_size, spec, **info)

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        assert condition.direction is not None
        return self.networks[condition.direction](images)


class DummyConditionalTranslator(Translator):
    """What the labelled dummy family exports: a target age in the data's range and a hair colour."""

    def __init__(self, generator: nn.Module, model_config: dict, image_size: int, **info: Any) -> None:
        # The data's label schema and the condition spec share their JSON form.
        spec = ConditionSpec.from_json(model_config["labels"])
        super().__init__(
            {"generator": generator}, DummyLabelledFamily.name, model_config, image_size, spec, **info
        )

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        assert self.conditions.age is not None
        count = images.shape[0]
        age = condition.target_age if condition.target_age is not None else sum(self.conditions.age) / 2
        hair = condition.attributes.get("hair")
        hair_id = self.conditions.attributes["hair"].index(hair) if hair is not None else -1
        planes = condition_planes(
            self.model_config["labels"],
            torch.full((count,), age),
            torch.full((count,), hair_id),
            images.shape[-1],
        )
        return self.networks["generator"](torch.cat([images, planes.to(images.device)], dim=1))


TRAIN_PRESETS = {
    "tiny": {
        "model_preset": "tiny",
        "stages": [{"size": SIZE, "batch_size": 2, "steps": STEPS}],
        "sample_every": 100,
        "checkpoint_every": 100,
        "log_every": 2,
        "precision": "fp32",
        "device": "cpu",
    }
}
LICENCE = {"name": "dummy discriminator", "licence": "CC0-1.0", "origin": "this test", "used_for": "nothing"}


class DummyUnpairedFamily(ModelFamily):
    name = "dummy-unpaired"
    summary = "contract-test family on unpaired folders"
    config_class = DummyConfig
    presets = {"tiny": {"discriminator_channels": 4}}
    train_presets = TRAIN_PRESETS
    data_kind = "unpaired"
    licences = [LICENCE]

    @classmethod
    def check_stage_size(cls, config: DummyConfig, size: int) -> None:
        if size < 8:
            raise ConfigError(f"stage size {size} is below the dummy discriminator's minimum of 8")

    @classmethod
    def build(cls, config: DummyConfig) -> DummyTwoDomainModel:
        return DummyTwoDomainModel(config)

    @classmethod
    def export(cls, model: TrainingModel, image_size: int, metadata: dict, card: dict) -> Translator:
        assert isinstance(model, DummyTwoDomainModel)
        generators = {name: network.cpu().eval() for name, network in model.generators.items()}
        return DummyTwoDomainTranslator(
            generators, to_dict(model.config), image_size, metadata=metadata, card=card
        )

    @classmethod
    def load(cls, pretrained: Pretrained) -> Translator:
        generators = {name: pixel_generator(3) for name in ("older", "younger")}
        load_networks(generators, pretrained.tensors, pretrained.describe())
        info = {"metadata": pretrained.fields.get("metadata"), "card": pretrained.card}
        return DummyTwoDomainTranslator(
            generators, pretrained.config, pretrained.fields["image_size"], **info
        )


class DummyLabelledFamily(DummyUnpairedFamily):
    name = "dummy-labelled"
    summary = "contract-test family on labelled images"
    data_kind = "labelled"

    @classmethod
    def adapt_to_data(cls, config: DummyConfig, data_description: dict[str, Any]) -> DummyConfig:
        config.labels = data_description["labels"]
        return config

    @classmethod
    def build(cls, config: DummyConfig) -> DummyConditionalModel:
        return DummyConditionalModel(config)

    @classmethod
    def export(cls, model: TrainingModel, image_size: int, metadata: dict, card: dict) -> Translator:
        assert isinstance(model, DummyConditionalModel)
        generator = model.generators["generator"].cpu().eval()
        return DummyConditionalTranslator(
            generator, to_dict(model.config), image_size, metadata=metadata, card=card
        )

    @classmethod
    def load(cls, pretrained: Pretrained) -> Translator:
        config = cls.config_from_dict(pretrained.config)
        networks = {"generator": pixel_generator(3 + 1 + len(config.labels["attributes"]["hair"]))}
        load_networks(networks, pretrained.tensors, pretrained.describe())
        info = {"metadata": pretrained.fields.get("metadata"), "card": pretrained.card}
        return DummyConditionalTranslator(
            networks["generator"], pretrained.config, pretrained.fields["image_size"], **info
        )


# --- data, cases and helpers -----------------------------------------------------------------------------


def write_unpaired(root: Path, rng: np.random.Generator) -> Path:
    for folder in ("trainA", "trainB", "testA", "testB"):
        (root / folder).mkdir(parents=True)
        for index in range(3):
            random_image(rng, size=(20, 20)).save(root / folder / f"{index}.png")
    info = {"name": "toy", "source": "this test", "licence": "CC0-1.0", "domains": {"A": {"label": "young"}}}
    (root / "dataset.json").write_text(json.dumps(info))
    return root


def write_labelled(root: Path, rng: np.random.Generator) -> Path:
    rows = []
    for index, (age, hair) in enumerate([(12, "dark"), (30, "grey"), (45, "blond"), (70, "grey"), (25, "")]):
        split = "test" if index == 4 else "train"
        name = f"{split}/{index}.png"
        (root / split).mkdir(parents=True, exist_ok=True)
        random_image(rng, size=(20, 20)).save(root / name)
        rows.append({"file": name, "split": split, "domain": "", "age": str(age), "hair": hair})
    with (root / "manifest.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    labels = {"age": {"min": AGES[0], "max": AGES[1]}, "attributes": {"hair": HAIR}}
    (root / "dataset.json").write_text(json.dumps({"name": "toy", "source": "this test", "labels": labels}))
    return root


@dataclass
class Case:
    """One dummy family with its data, a valid condition and requests it must refuse."""

    family: type[ModelFamily]
    data: Path
    condition: dict[str, Any]
    cli_condition: list[str]
    #: (keyword arguments of ``condition``, text the one-line error must contain)
    refused: list[tuple[dict[str, Any], list[str]]]


@pytest.fixture(params=["unpaired", "labelled"])
def case(request, tmp_path, rng) -> Case:
    if request.param == "unpaired":
        family: type[ModelFamily] = DummyUnpairedFamily
        data = write_unpaired(tmp_path / "data", rng)
        condition: dict[str, Any] = {"direction": "younger"}
        cli_condition = ["--direction", "younger"]
        refused = [
            ({"direction": "sideways"}, ["'sideways'", "--direction older or younger"]),
            ({"direction": None}, ["choose a direction", "older or younger"]),
            ({"direction": "older", "target_age": 40}, ["no target age", "--direction older or younger"]),
        ]
    else:
        family = DummyLabelledFamily
        data = write_labelled(tmp_path / "data", rng)
        condition = {"target_age": 60.0, "attributes": {"hair": "grey"}}
        cli_condition = ["--target-age", "60", "--attribute", "hair=grey"]
        refused = [
            ({"target_age": 95}, ["target age 95", "10..80"]),
            ({"target_age": "95"}, ["target age 95 is outside", "10..80"]),
            ({"target_age": "old"}, ["target age must be a number, got 'old'"]),
            ({"target_age": 5, "attributes": {"hair": "grey"}}, ["target age 5", "10..80"]),
            ({"attributes": {"glasses": "none"}}, ["'glasses'", "hair"]),
            ({"attributes": {"hair": "pink"}}, ["hair='pink'", "dark, grey, blond"]),
            (
                {"direction": "older"},
                ["not a direction", "--target-age 10..80", "--attribute hair=dark|grey|blond"],
            ),
            ({}, ["say what to change", "--target-age 10..80"]),
        ]
    registry.register_family(family)
    yield Case(family, data, condition, cli_condition, refused)
    registry.unregister_family(family.name)


def quiet_train(config, data, runs_dir: Path, **options: Any) -> Path:
    return train(config, data, runs_dir, quiet=True, tensorboard=False, handle_signals=False, **options)


def final_checkpoint(run_dir: Path) -> dict[str, Any]:
    return load_checkpoint(list_checkpoints(run_dir)[-1])


def assert_same_tensors(first: Any, second: Any, where: str = "") -> None:
    """Nested dicts/lists of tensors and plain values are equal, tensors bit for bit."""
    if isinstance(first, torch.Tensor):
        assert isinstance(second, torch.Tensor) and torch.equal(first, second), where
    elif isinstance(first, dict):
        assert set(first) == set(second), where
        for key in first:
            assert_same_tensors(first[key], second[key], f"{where}.{key}")
    elif isinstance(first, list | tuple):
        assert len(first) == len(second), where
        for index, (a, b) in enumerate(zip(first, second, strict=True)):
            assert_same_tensors(a, b, f"{where}[{index}]")
    else:
        assert first == second, where


cli = cli_exit_code


# --- the tests -------------------------------------------------------------------------------------------


def test_train_stop_resume_export_load_translate(case: Case, tmp_path: Path) -> None:
    family = case.family
    config = train_config("tiny", family=family.name)
    straight = quiet_train(config, case.data, tmp_path / "straight")
    with pytest.raises(TrainingInterrupted) as stopped:
        quiet_train(config, case.data, tmp_path / "split", should_stop=lambda step: step == STOP_AT)
    assert stopped.value.step == STOP_AT and stopped.value.checkpoint.is_file()
    resumed = train(
        runs_dir=tmp_path / "split", resume=True, quiet=True, tensorboard=False, handle_signals=False
    )
    assert resumed == stopped.value.run_dir and resumed.name == f"001-{family.name}-tiny"

    # The resumed run is the uninterrupted one, bit for bit.
    expected, found = final_checkpoint(straight), final_checkpoint(resumed)
    assert found["step"] == STEPS and found["family"] == family.name
    for part in ("model", "optimizers", "schedulers", "family_state", "model_config"):
        assert_same_tensors(expected[part], found[part], part)
    assert int(found["family_state"]["steps_seen"]) == STEPS
    # Both phases ran, the discriminator on even steps only; the optimiser's own step count shows it.
    discriminator_steps = found["optimizers"]["discriminator"]["state"][0]["step"]
    assert (
        int(found["optimizers"]["generator"]["state"][0]["step"]) == STEPS
        and int(discriminator_steps) == STEPS // 2
    )
    rows = [json.loads(line) for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    # The stop logs its partial interval; a row has the terms of the phases that ran in its interval.
    assert [row["step"] for row in rows] == [2, STOP_AT, 4, 6]
    assert ["d_total" in row for row in rows] == [True, True, False, True]
    assert list((resumed / "samples").glob("*.png"))

    # Export → load: the same outputs as the exported object and as the trained networks.
    translator = export_run(straight, tmp_path / "model")
    loaded = ageshift.load(tmp_path / "model")
    assert type(loaded) is type(translator) and loaded.family == family.name and loaded.image_size == SIZE
    images = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    output = loaded.translate_batch(images, **case.condition)
    assert output.shape == images.shape and not torch.equal(output, images)
    assert torch.equal(output, translator.translate_batch(images, **case.condition))
    for name, network in loaded.networks.items():
        for key, value in network.state_dict().items():
            assert torch.equal(value, expected["model"][f"generators.{name}.{key}"]), (name, key)
    export_run(resumed, tmp_path / "resumed-model")
    assert torch.equal(
        ageshift.load(tmp_path / "resumed-model").translate_batch(images, **case.condition), output
    )
    assert torch.equal(loaded.translate_batch(images, **case.condition, strength=0.0), images)
    assert torch.equal(
        loaded.translate_batch(images, **case.condition, strength=0.5),
        torch.lerp(images, output, 0.5).clamp(-1, 1),
    )
    picture = random_image(np.random.default_rng(1), size=(24, 20))
    assert loaded.translate(picture, **case.condition).size == (24, 20)

    # The model card in config.json names the family and the training data.
    document = json.loads((tmp_path / "model" / "config.json").read_text())
    assert (
        document["format"] == "ageshift"
        and document["kind"] == "translator"
        and document["family"] == family.name
    )
    card = document["card"]
    assert card["family"] == family.name and card["summary"] == family.summary
    assert card["training_data"]["name"] == "toy" and card["training_data"]["source"] == "this test"
    assert LICENCE in card["licences"]
    if family.data_kind == "labelled":
        assert card["training_data"]["size"] == {"images": 4}
        assert card["training_data"]["labels"] == {
            "age": {"min": 10, "max": 80},
            "attributes": {"hair": HAIR},
        }
        assert document["conditions"] == {"age": {"min": 10.0, "max": 80.0}, "attributes": {"hair": HAIR}}
    else:
        assert card["training_data"]["size"] == {"A": 3, "B": 3}
        assert {
            "name": "toy",
            "licence": "CC0-1.0",
            "origin": "this test",
            "used_for": "training data",
        } in card["licences"]
        assert document["conditions"] == {"directions": ["older", "younger"]}
    assert set(load_file(tmp_path / "model" / "model.safetensors")) == {
        f"{name}.{key}" for name, network in loaded.networks.items() for key in network.state_dict()
    }
    assert loaded.metadata["training"]["steps"] == STEPS and loaded.metadata["dataset"] == "toy"


def test_condition_errors_are_one_line_and_name_what_is_accepted(case: Case) -> None:
    family = case.family
    config = family.adapt_to_data(
        family.model_config("tiny"),
        {"labels": {"age": {"min": AGES[0], "max": AGES[1]}, "attributes": {"hair": HAIR}}},
    )
    translator = family.export(family.build(config), SIZE, {}, {})
    images = torch.zeros(1, 3, SIZE, SIZE)
    assert translator.translate_batch(images, **case.condition).shape == images.shape
    for request, expected in case.refused:
        options = {"direction": None, **request}
        direction = options.pop("direction")
        with pytest.raises(ConditionError) as error:
            translator.translate_batch(images, direction, **options)
        message = str(error.value)
        assert "\n" not in message, message
        for text in expected:
            assert text in message, (text, message)
    with pytest.raises(ConditionError, match="strength must be between 0 and 1"):
        translator.translate_batch(images, **case.condition, strength=1.5)
    with pytest.raises(ConditionError, match="strength must be a number, got 'full'"):
        translator.translate_batch(images, **case.condition, strength="full")
    # A bad request fails before any work, even for an empty list of pictures.
    with pytest.raises(ConditionError):
        translator.translate([], **{"direction": None, **case.refused[0][0]})


def test_cli_train_export_info_translate(case: Case, tmp_path: Path, capsys, monkeypatch) -> None:
    family = case.family
    runs, model = tmp_path / "runs", tmp_path / "model"
    # The CLI logs to TensorBoard when it is installed; its start-up is slower than this whole run.
    monkeypatch.setattr("ageshift.training.rundir._open_tensorboard", lambda folder: None)
    assert cli(["models"]) == 0
    assert (
        f"{family.name}: {family.summary} [data: {family.data_kind}; presets: tiny]"
        in capsys.readouterr().out
    )
    command = [
        "train",
        "--family",
        family.name,
        "--preset",
        "tiny",
        "--data",
        case.data,
        "--out",
        runs,
        "--quiet",
    ]
    assert cli([*command, "--set", "stages=[{size: 16, batch_size: 1, steps: 2}]"]) == 0
    run_dir = next(runs.iterdir())
    assert "run folder" in capsys.readouterr().err
    assert (
        cli(["train", "--run", run_dir, "--quiet", "--set", "stages=[{size: 16, batch_size: 1, steps: 3}]"])
        == 0
    )
    assert final_checkpoint(run_dir)["step"] == 3
    assert cli(["export", run_dir, "--out", model]) == 0
    assert "step 3" in capsys.readouterr().err

    assert cli(["info", model]) == 0
    info = capsys.readouterr().out
    assert (
        f"{family.name}, {SIZE}²" in info
        and "trained on: toy" in info
        and "dummy discriminator (CC0-1.0)" in info
    )
    if family.data_kind == "labelled":
        assert "target_age: 10..80" in info and "attributes.hair: one of dark, grey, blond" in info
    else:
        assert "direction: one of older, younger" in info
    assert cli(["info", model, "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["family"] == family.name and described["card"]["training_data"]["name"] == "toy"

    picture = random_image(np.random.default_rng(2), size=(20, 20))
    picture.save(tmp_path / "face.png")
    out = tmp_path / "out.png"
    assert cli(["translate", model, tmp_path / "face.png", out, *case.cli_condition, "--device", "cpu"]) == 0
    expected = ageshift.load(model).translate(picture, **case.condition)
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(expected))
    capsys.readouterr()
    bad = ["--direction", "sideways"] if family.data_kind == "unpaired" else ["--target-age", "95"]
    assert cli(["translate", model, tmp_path / "face.png", tmp_path / "bad.png", *bad]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and ("older or younger" in error or "10..80" in error), error
    assert not (tmp_path / "bad.png").exists()


def test_registry_lists_a_family_only_while_registered(tmp_path: Path) -> None:
    family = DummyUnpairedFamily
    registry.register_family(family)
    try:
        assert family.name in ageshift.list_models() and ageshift.get_family(family.name) is family
        registry.register_family(family)  # registering the same class again is harmless
        impostor = type("Impostor", (DummyUnpairedFamily,), {})
        with pytest.raises(ValueError, match="registered twice"):
            registry.register_family(impostor)
        model = ageshift.create_model(family.name)
        assert isinstance(model, DummyTwoDomainModel) and model.config.discriminator_channels == 4
        with pytest.raises(ConfigError, match="unknown dummy-unpaired preset 'huge'; choose one of tiny"):
            family.model_config("huge")
        with pytest.raises(ConfigError, match="below the dummy discriminator's minimum"):
            train_config(
                "tiny", family=family.name, overrides=["stages=[{size: 4, batch_size: 1, steps: 1}]"]
            )
        family.export(model, SIZE, {}, {}).save_pretrained(tmp_path / "model")
        assert ageshift.load(tmp_path / "model").family == family.name
    finally:
        registry.unregister_family(family.name)
    assert family.name not in ageshift.list_models()
    with pytest.raises(ConfigError, match="unknown model family 'dummy-unpaired'; available: .*cyclegan"):
        ageshift.get_family(family.name)
    with pytest.raises(ModelLoadError, match="unknown model family 'dummy-unpaired'"):
        ageshift.load(tmp_path / "model")
