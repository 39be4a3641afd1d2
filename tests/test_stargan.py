"""The conditional family: shapes, the condition layout, losses, condition checks, export and loading."""

from __future__ import annotations

import contextlib

import pytest
import torch

import ageshift
from ageshift.errors import ConfigError
from ageshift.losses import gradient_penalty
from ageshift.models.conditions import ConditionError
from ageshift.models.family import StepContext
from ageshift.models.stargan import ConditionalGenerator, StarGANFamily
from ageshift.models.stargan.config import ConditionalGeneratorConfig

ATTRIBUTES = {"hair": ["black", "blond", "brown"], "glasses": ["none", "glasses"]}


def tiny(**model):
    overrides = {
        "generator": {"channels": 4, "num_res_blocks": 1},
        "discriminator": {"channels": 4, "num_layers": 3},
        "image_size": 32,
        "age_range": [15, 80],
        "attributes": ATTRIBUTES,
    }
    config = StarGANFamily.model_config("fast", overrides | model)
    torch.manual_seed(0)
    return StarGANFamily.build(config)


def labels(count: int) -> dict[str, torch.Tensor]:
    return {
        "age": torch.linspace(15, 80, count),
        "hair": torch.arange(count) % 3,
        "glasses": torch.arange(count) % 2,
    }


@pytest.mark.parametrize("conditioning", ["tile", "film", "both"])
@pytest.mark.parametrize("output", ["directed", "residual", "image"])
def test_generator_shapes_and_range(conditioning, output):
    config = ConditionalGeneratorConfig(
        channels=4, num_res_blocks=1, conditioning=conditioning, output=output
    )
    generator = ConditionalGenerator(config, condition_dim=6)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    result = generator(images, torch.rand(2, 6), torch.rand(2, 6))
    assert result.shape == images.shape and result.abs().max() <= 1


@pytest.mark.parametrize("conditioning", ["tile", "film", "both"])
def test_the_condition_reaches_the_output(conditioning):
    # Instance norm removes constant channels: a tiled condition must still change the output (it enters
    # through the zero-padded borders), and FiLM acts after every norm.
    torch.manual_seed(0)
    config = ConditionalGeneratorConfig(
        channels=8, num_res_blocks=2, conditioning=conditioning, output="image"
    )
    generator = ConditionalGenerator(config, condition_dim=3).eval()
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    first = generator(images, torch.tensor([[1.0, 0.0, 0.0]] * 2))
    second = generator(images, torch.tensor([[-1.0, 1.0, 0.0]] * 2))
    assert (first - second)[..., 8:24, 8:24].abs().mean() > 0.05


def test_residual_generator_starts_near_the_identity():
    images = torch.rand(2, 3, 32, 32) * 1.8 - 0.9
    changes = {}
    for output in ("residual", "image"):
        model = tiny(generator={"channels": 4, "num_res_blocks": 1, "output": output})
        condition = model.layout.encode(labels(2), 2, torch.device("cpu"))
        changes[output] = float((model.generator(images, condition) - images).abs().mean())
    assert changes["residual"] < 0.5 * changes["image"], changes


def test_directed_generator_is_the_identity_at_the_own_condition_and_linear_in_the_difference():
    torch.manual_seed(0)
    config = ConditionalGeneratorConfig(channels=4, num_res_blocks=1, output="directed")
    generator = ConditionalGenerator(config, condition_dim=3).eval()
    images = torch.rand(2, 3, 32, 32) * 1.8 - 0.9
    own, target = torch.rand(2, 3), torch.rand(2, 3)
    assert torch.allclose(generator(images, own, own), images, atol=1e-6)
    assert not torch.allclose(generator(images, target, own), images, atol=1e-3)
    with pytest.raises(ValueError, match="source_condition"):
        generator(images, target)


def test_condition_layout_encodes_and_reads_back():
    model = tiny()
    layout = model.layout
    assert layout.dim == 1 + 3 + 2
    vector = layout.encode(labels(4), 4, torch.device("cpu"))
    assert vector[:, 0].tolist() == pytest.approx([-1.0, -1 / 3, 1 / 3, 1.0])
    # Attribute blocks come in name order (glasses, hair), whatever order the config lists them in.
    assert list(layout.attributes) == ["glasses", "hair"]
    assert vector[1, 1:3].tolist() == [0.0, 1.0] and vector[1, 3:].tolist() == [0.0, 1.0, 0.0]
    # The auxiliary output read back: the vector itself is a perfect auxiliary output.
    read = layout.estimate(torch.cat([vector[:, :1], vector[:, 1:] * 10], dim=1))
    assert read["age"].tolist() == pytest.approx(labels(4)["age"].tolist())
    assert torch.equal(read["hair"], labels(4)["hair"]) and torch.equal(read["glasses"], labels(4)["glasses"])


def test_phases_give_finite_losses_and_only_known_labels_count():
    model = tiny(gan_loss="wgan-gp")
    batch = {"images": torch.rand(4, 3, 32, 32) * 2 - 1, **labels(4)}
    batch["age"][0] = float("nan")
    batch["hair"][1] = -1
    context = StepContext(
        torch.device("cpu"), contextlib.nullcontext, torch.Generator().manual_seed(0), sample_targets=labels
    )
    carry: dict = {}
    names = []
    for phase in model.phases():
        output = model.run_phase(phase, batch, carry, context)
        assert torch.isfinite(output.loss)
        carry.update(output.carry)
        names += list(output.terms)
    assert {"g_adv", "g_reconstruction", "g_age", "g_hair", "d_adv", "d_gp", "d_age", "d_hair"} <= set(names)


def test_gradient_penalty_matches_its_closed_form():
    # For D(x) = w·x the gradient is w everywhere, so the penalty is (|w| - 1)².
    weight = torch.full((3 * 4 * 4,), 0.5)

    def critic(images):
        return images.flatten(1) @ weight

    penalty = gradient_penalty(
        critic, torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4), torch.Generator().manual_seed(0)
    )
    assert float(penalty) == pytest.approx((weight.norm().item() - 1) ** 2, rel=1e-5)


def test_adapt_to_data_takes_the_label_schema():
    config = StarGANFamily.model_config("fast")
    described = {"labels": {"age": {"min": 10, "max": 90}, "attributes": ATTRIBUTES}}
    adapted = StarGANFamily.adapt_to_data(config, described)
    assert adapted.age_range == [10.0, 90.0] and adapted.attributes == ATTRIBUTES
    only_hair = StarGANFamily.model_config("fast", {"use_attributes": ["hair"]})
    assert StarGANFamily.adapt_to_data(only_hair, described).attributes == {"hair": ATTRIBUTES["hair"]}
    with pytest.raises(ConfigError, match="beard"):
        StarGANFamily.adapt_to_data(
            StarGANFamily.model_config("fast", {"use_attributes": ["beard"]}), described
        )
    with pytest.raises(ConfigError, match="nothing to condition on"):
        StarGANFamily.build(StarGANFamily.adapt_to_data(config, {"labels": {}}))


def test_export_load_round_trip_conditions_and_strength(tmp_path):
    model = tiny().eval()
    translator = StarGANFamily.export(model, 32, {"crop": None}, {"family": "stargan"})
    translator.save_pretrained(tmp_path / "model")
    loaded = ageshift.load(tmp_path / "model")
    assert loaded.conditions.age == (15.0, 80.0)
    assert loaded.conditions.attributes == {name: tuple(values) for name, values in ATTRIBUTES.items()}
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    for request in (
        {"target_age": 70},
        {"attributes": {"hair": "blond"}},
        {"target_age": 20, "strength": 0.5},
    ):
        assert torch.equal(
            translator.translate_batch(images, **request), loaded.translate_batch(images, **request)
        )
    assert torch.equal(loaded.translate_batch(images, target_age=70, strength=0.0), images)
    readings = loaded.estimate(images)
    assert readings["age"].shape == (3,) and set(readings["hair"]) <= set(ATTRIBUTES["hair"])
    for request, message in (
        ({"target_age": 95}, "outside this model's range 15..80"),
        ({"attributes": {"hair": "green"}}, "choose one of black, blond, brown"),
        ({"attributes": {"beard": "beard"}}, "unknown attribute 'beard'"),
        ({"direction": "older"}, "takes a target, not a direction"),
        ({}, "say what to change"),
        ({"target_age": 50, "strength": 1.5}, "strength must be between 0 and 1"),
    ):
        with pytest.raises(ConditionError, match=message):
            loaded.translate_batch(images, **request)
