"""Chains of face stages: identity edits, a super-resolution stage, paste-back at the face's real size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import ageshift
from ageshift.errors import AgeshiftError
from ageshift.faces.chain import ChainTranslator, Pipeline, Stage
from ageshift.models.superres import SRResNet, SuperResolver
from ageshift.models.translator import IdentityTranslator


class BicubicUpscaler(SuperResolver):
    """A ×4 'super-resolution' model that is plain bicubic: makes the chain's geometry testable exactly."""

    def __init__(self) -> None:
        super().__init__(
            SRResNet(channels=4, num_blocks=1), {"channels": 4, "num_blocks": 1}, precision="fp32"
        )

    def upscale(self, image, scale=None, progress=False, source="image"):
        return image.resize((image.width * 4, image.height * 4), Image.Resampling.BICUBIC)


class Brighter(IdentityTranslator):
    def run(self, images, condition):
        return (images + 0.2).clamp(-1, 1)


def _photo() -> Image.Image:
    rng = np.random.default_rng(0)
    smooth = rng.random((12, 16, 3)) * 255
    return Image.fromarray(smooth.astype(np.uint8)).resize((320, 240), Image.Resampling.BICUBIC)


def test_chain_runs_every_stage_in_order():
    chain = ChainTranslator(
        [Stage(Brighter(), {"direction": "older"}), Stage(Brighter(), {"direction": "older"})]
    )
    images = torch.zeros(1, 3, 8, 8)
    assert torch.allclose(chain.translate(images), torch.full((1, 3, 8, 8), 0.4))
    with pytest.raises(AgeshiftError, match="own requests"):
        chain.translate(images, "older")
    with pytest.raises(AgeshiftError, match="choose a direction"):
        Stage(IdentityTranslator(), {})


def test_identity_chain_with_sr_stage_pastes_at_real_size():
    photo = _photo()
    box = [100, 60, 228, 188]  # a 128-px face, larger than the 32-px crop the model works at
    identity = IdentityTranslator(image_size=32)
    plain = ageshift.age_photo(photo, identity, "older", boxes=[box], feather=0.0)
    pipeline = Pipeline(
        [(identity, {"direction": "older"})], upscale=BicubicUpscaler(), boxes=[box], feather=0.0
    )
    upscaled = pipeline(photo)
    assert upscaled.image.size == photo.size
    original, a, b = (np.asarray(image, np.float64) for image in (photo, plain.image, upscaled.image))
    outside = np.ones(original.shape[:2], bool)
    outside[50:200, 90:240] = False
    assert np.array_equal(b[outside], original[outside])  # nothing outside the face changes
    inner = (slice(70, 178), slice(110, 218))
    error_plain = np.abs(a[inner] - original[inner]).mean()
    error_chain = np.abs(b[inner] - original[inner]).mean()
    # The same 32-px crop pasted through a ×4 bicubic crop: the geometry matches (a misplaced paste would be
    # tens of levels off) and is about as close as the paste's own interpolation of the small crop, which also
    # enlarges bicubically (measured 1.99 vs 1.89).
    assert error_plain < 6.0
    assert error_chain < 1.25 * error_plain


def test_chain_with_a_real_sr_model_and_bad_upscaler():
    photo = _photo()
    tiny = SuperResolver(
        SRResNet(channels=4, num_blocks=1), {"channels": 4, "num_blocks": 1}, precision="fp32"
    )
    result = Pipeline([("identity", {"direction": "older"})], upscale=tiny, boxes=[[10, 10, 80, 80]])(photo)
    assert result.image.size == photo.size and len(result.faces) == 1
    with pytest.raises(AgeshiftError, match="super-resolution"):
        Pipeline([("identity", {"direction": "older"})], upscale="identity")
    assert ageshift.Pipeline is Pipeline


def test_age_cli_upscale_option(tmp_path, capsys):
    from tests.conftest import run_cli

    tiny = SuperResolver(SRResNet(channels=4, num_blocks=1), {"channels": 4, "num_blocks": 1})
    tiny.save_pretrained(tmp_path / "sr")
    _photo().save(tmp_path / "photo.png")
    arguments = ["age", tmp_path / "photo.png", "--model", "identity", "--direction", "older"]
    arguments += ["--box", "100,60,228,188", "--out", tmp_path / "aged", "--upscale", tmp_path / "sr"]
    code, _, err = run_cli(arguments, capsys)
    assert code == 0, err
    outputs = list((tmp_path / "aged").iterdir())
    assert len(outputs) == 1 and Image.open(outputs[0]).size == (320, 240)
    arguments[arguments.index(tmp_path / "aged")] = tmp_path / "aged2"
    code, _, err = run_cli([*arguments[:-1], "identity"], capsys)
    assert code == 2 and "not a super-resolution model" in err


def test_parse_stage_and_age_cli_then(tmp_path, capsys):
    from tests.conftest import run_cli

    from ageshift.faces.chain import parse_stage

    stage = parse_stage("identity:direction=younger,strength=0.5")
    assert stage.request == {"direction": "younger", "strength": 0.5}
    assert parse_stage("identity:direction=older").model.family == "identity"
    with pytest.raises(AgeshiftError, match="must be a number"):
        parse_stage("identity:target_age=old")
    with pytest.raises(AgeshiftError, match="choose a direction"):
        parse_stage("identity")
    _photo().save(tmp_path / "photo.png")
    arguments = [
        "age",
        tmp_path / "photo.png",
        "--model",
        "identity",
        "--direction",
        "older",
        "--box",
        "10,10,90,90",
    ]
    arguments += [
        "--then",
        "identity:direction=younger",
        "--out",
        tmp_path / "aged",
        "--save-crops",
        tmp_path / "crops",
    ]
    code, _, err = run_cli(arguments, capsys)
    assert code == 0, err
    assert len(list((tmp_path / "aged").iterdir())) == 1
    code, _, err = run_cli(
        [*arguments[:-4], "--then", "identity:target_age=70", "--out", tmp_path / "b"], capsys
    )
    assert code == 2 and "Traceback" not in err
