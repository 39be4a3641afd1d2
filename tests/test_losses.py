"""Adversarial objectives, reconstruction losses and the image pool."""

from __future__ import annotations

import pytest
import torch

from ageshift.errors import ConfigError
from ageshift.losses import (
    GAN_LOSSES,
    ImagePool,
    cycle_loss,
    discriminator_loss,
    generator_loss,
    identity_loss,
)


@pytest.mark.parametrize("kind", GAN_LOSSES)
def test_discriminator_loss_prefers_correct_judgements(kind):
    confident_right = discriminator_loss(kind, torch.full((2, 1, 3, 3), 1.0), torch.full((2, 1, 3, 3), -1.0))
    confident_wrong = discriminator_loss(kind, torch.full((2, 1, 3, 3), -1.0), torch.full((2, 1, 3, 3), 1.0))
    assert confident_right.ndim == 0 and confident_right < confident_wrong


@pytest.mark.parametrize("kind", GAN_LOSSES)
def test_generator_loss_falls_as_fakes_look_real(kind):
    judged_fake = generator_loss(kind, torch.full((2, 1, 3, 3), -1.0))
    judged_real = generator_loss(kind, torch.full((2, 1, 3, 3), 1.0))
    assert judged_real < judged_fake


def test_known_values():
    ones, zeros = torch.ones(4), torch.zeros(4)
    assert generator_loss("lsgan", zeros) == pytest.approx(1.0)
    assert discriminator_loss("lsgan", ones, zeros) == pytest.approx(0.0)
    assert discriminator_loss("hinge", zeros, zeros) == pytest.approx(2.0)
    assert generator_loss("nonsaturating", zeros) == pytest.approx(torch.log(torch.tensor(2.0)).item())


@pytest.mark.parametrize("kind", GAN_LOSSES)
def test_losses_have_gradients_and_are_float32_under_bf16(kind):
    logits = torch.randn(2, 1, 4, 4, dtype=torch.bfloat16, requires_grad=True)
    loss = generator_loss(kind, logits) + discriminator_loss(kind, logits, logits.detach())
    loss.backward()
    assert loss.dtype == torch.float32 and logits.grad is not None


def test_unknown_loss_names_the_options():
    with pytest.raises(ConfigError, match="lsgan, nonsaturating, hinge"):
        generator_loss("wasserstein", torch.zeros(1))


def test_cycle_and_identity_are_weighted_l1():
    original, other = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5)
    assert cycle_loss(original, other, weight=10.0) == pytest.approx(5.0)
    assert identity_loss(original, other, weight=5.0) == pytest.approx(2.5)
    assert cycle_loss(original, original) == 0


def test_image_pool_fills_then_swaps_reproducibly():
    fakes = [torch.full((2, 3, 4, 4), float(i)) for i in range(6)]

    def run(pool: ImagePool, seed: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        return [pool.query(batch, generator) for batch in fakes]

    pool = ImagePool(capacity=4)
    outputs = run(pool, 0)
    assert torch.equal(outputs[0], fakes[0]) and torch.equal(outputs[1], fakes[1])  # filling: pass through
    assert len(pool) == 4
    returned_values = {value.item() for out in outputs[2:] for value in out[:, 0, 0, 0]}
    assert returned_values <= {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}
    assert returned_values & {0.0, 1.0}  # some old images came back out
    again = run(ImagePool(capacity=4), 0)
    assert all(torch.equal(a, b) for a, b in zip(outputs, again, strict=True))


def test_image_pool_state_round_trip_continues_identically():
    generator = torch.Generator().manual_seed(3)
    pool = ImagePool(capacity=3)
    for i in range(3):
        pool.query(torch.full((2, 3, 4, 4), float(i)), generator)
    restored = ImagePool(capacity=0)
    restored.load_state_dict(pool.state_dict())
    generator_copy = torch.Generator()
    generator_copy.set_state(generator.get_state())
    batch = torch.full((2, 3, 4, 4), 9.0)
    assert torch.equal(pool.query(batch, generator), restored.query(batch, generator_copy))


def test_image_pool_disabled_and_new_resolution():
    generator = torch.Generator().manual_seed(0)
    batch = torch.rand(2, 3, 4, 4)
    assert ImagePool(0).query(batch, generator) is not None and len(ImagePool(0)) == 0
    pool = ImagePool(5)
    pool.query(batch, generator)
    bigger = torch.rand(2, 3, 8, 8)
    assert torch.equal(pool.query(bigger, generator), bigger) and len(pool) == 2
