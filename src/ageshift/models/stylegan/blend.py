"""Layer swapping between two StyleGAN generators (Pinkney & Adler 2020, "Resolution Dependent GAN
Interpolation for Controllable Image Synthesis Between Domains"): the "toonify" blend.

A generator fine-tuned from a base on a style folder keeps the base's latent space, so the two can be cut at a
resolution and glued: the coarse layers (pose, face shape, layout) from one, the fine layers (texture,
colour, line) from the other. Here the base supplies every resolution up to ``swap_at`` and the style
generator every resolution above it, so a projected photo keeps its structure and takes the style's look.
``swap_at = image_size`` gives the base generator back, ``swap_at = 0`` the style generator.
"""

from __future__ import annotations

import copy

import torch

from ...errors import ConfigError
from .networks import Generator


def blend_generators(base: Generator, style: Generator, swap_at: int) -> Generator:
    """A new generator with ``base``'s mapping network and blocks up to ``swap_at``², ``style``'s above.

    Args:
        base: the base generator (its mapping network and ``w_avg`` are kept: latents of the base apply).
        style: a generator with the same config, usually fine-tuned from ``base``.
        swap_at: 0, or one of the generator's resolutions (4, 8, …, image_size).

    Raises:
        ConfigError: different architectures or a resolution the generators do not have.
    """
    shapes = {name: tuple(value.shape) for name, value in base.state_dict().items()}
    if shapes != {name: tuple(value.shape) for name, value in style.state_dict().items()}:
        raise ConfigError(
            "the base and style generators must share one config (fine-tune one from the other)"
        )
    resolutions = base.config.resolutions
    if swap_at != 0 and swap_at not in resolutions:
        raise ConfigError(f"--swap-at {swap_at}: choose 0 or one of {', '.join(map(str, resolutions))}")
    blended = copy.deepcopy(base)
    with torch.no_grad():
        for block, source in zip(blended.synthesis.block_list(), style.synthesis.block_list(), strict=True):
            if block.resolution > swap_at:
                block.load_state_dict(source.state_dict())
    return blended
