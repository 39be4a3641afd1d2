"""The generator options behind the `fast` preset: residual output and checkerboard-free upsampling."""

from __future__ import annotations

import pytest
import torch

from ageshift.models.cyclegan.config import GeneratorConfig
from ageshift.models.cyclegan.networks import RESIDUAL_LIMIT, ResnetGenerator
from ageshift.nn.layers import init_weights


def _generator(**options) -> ResnetGenerator:
    torch.manual_seed(0)
    generator = ResnetGenerator(GeneratorConfig(channels=8, num_res_blocks=1, **options))
    init_weights(generator, 0.02)
    return generator.eval()


def test_residual_generator_with_a_zero_head_returns_its_input():
    generator = _generator(output="residual")
    torch.nn.init.zeros_(generator.head[1].weight)
    torch.nn.init.zeros_(generator.head[1].bias)
    images = (torch.rand(2, 3, 32, 32) * 2 - 1).clamp(-RESIDUAL_LIMIT, RESIDUAL_LIMIT)
    with torch.no_grad():
        torch.testing.assert_close(generator(images), images, atol=1e-5, rtol=0)


def test_image_generator_is_blind_to_global_colour_and_the_residual_one_is_not():
    images = torch.rand(2, 3, 32, 32) * 1.2 - 0.6
    recoloured = 0.7 * images + torch.tensor([0.2, -0.1, 0.1]).view(1, 3, 1, 1)
    with torch.no_grad():
        image = _generator(output="image")
        # Instance norm right after the stem removes every per-channel offset and scale of the input.
        # (up to instance norm's epsilon)
        torch.testing.assert_close(image(recoloured), image(images), atol=1e-3, rtol=0)
        residual = _generator(output="residual")
        assert (residual(recoloured) - residual(images)).abs().mean() > 0.05


@pytest.mark.parametrize(("upsample", "checkerboard"), [("transpose", True), ("conv_bilinear", False)])
def test_upsampling_a_constant_map_shows_a_checkerboard_only_for_transposed_convs(upsample, checkerboard):
    generator = _generator(upsample=upsample, norm="none")
    inner = generator.config.channels * 2**generator.config.num_downsamples
    with torch.no_grad():
        # padding effects reach ~10 output pixels in from the borders; look at the middle only
        features = generator.up(torch.ones(1, inner, 16, 16))[..., 16:-16, 16:-16]
    spread = float(features.std(dim=(-2, -1)).max())
    assert (spread > 1e-4) is checkerboard, spread


def test_output_stays_in_range_and_keeps_its_shape():
    generator = _generator(output="residual", upsample="conv_bilinear")
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    images[0, :, :4] = 1.0  # saturated pixels go through atanh's clamp
    with torch.no_grad():
        out = generator(images)
    assert out.shape == images.shape and out.abs().max() <= 1 and torch.isfinite(out).all()
