"""Super-resolution inference: tiles == one pass, packaged names, save/load, bad inputs, ``ageshift upscale``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import random_image, run_cli

from ageshift.errors import AgeshiftError, MissingDependencyError
from ageshift.models.superres import RRDBNet, SRResNet, SuperResolver, fuse_batchnorm
from ageshift.models.superres.inference import (
    MAX_OUTPUT_PIXELS,
    UpscaleError,
    check_upscale,
    plan_tiles,
    upscale_array,
    upscale_tensor,
)


def _photo(side: int = 48) -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(data.astronaut()[80 : 80 + side, 180 : 180 + side])


def _tiny_resolver(architecture: str = "srresnet") -> SuperResolver:
    torch.manual_seed(0)
    if architecture == "rrdbnet":
        generator: torch.nn.Module = RRDBNet(channels=8, num_blocks=1, growth=4)
        config = {"architecture": "rrdbnet", "channels": 8, "num_blocks": 1, "growth": 4, "image_size": 32}
    else:
        generator = SRResNet(channels=8, num_blocks=2)
        for module in generator.modules():  # non-trivial BatchNorm statistics, so fusing is really tested
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
        config = {"architecture": "srresnet", "channels": 8, "num_blocks": 2, "image_size": 32}
    return SuperResolver(generator, config, precision="fp32")


@pytest.fixture
def packaged():
    from ageshift.models.translator import load

    def get(name: str) -> SuperResolver:
        try:
            model = load(name)
        except MissingDependencyError as error:
            pytest.skip(str(error))
        assert isinstance(model, SuperResolver)
        model.precision = "fp32"
        return model

    return get


def test_tiles_partition_the_image():
    tiles = plan_tiles(50, 70, 16, 4)
    covered = np.zeros((50, 70), int)
    for tile in tiles:
        top, left, bottom, right = tile.core
        covered[top:bottom, left:right] += 1
        assert tile.read[0] == max(top - 4, 0) and tile.read[3] == min(right + 4, 70)
    assert (covered == 1).all()


def test_fused_batchnorm_gives_the_same_output():
    resolver = _tiny_resolver()
    images = torch.rand(2, 3, 12, 12) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(
            fuse_batchnorm(resolver.generator)(images), resolver.generator(images), atol=1e-5, rtol=0
        )


def test_srresnet_tiles_match_one_pass(packaged):
    network = packaged("srresnet-x4").inference_network()
    pixels = _photo(40)
    whole = upscale_array(network, pixels, tile=1000, precision="fp32")
    tiled = upscale_array(network, pixels, tile=20, overlap=16, precision="fp32")
    difference = np.abs(whole.astype(int) - tiled.astype(int))
    assert whole.shape == (160, 160, 3)
    assert difference.max() <= 1 and difference.mean() < 0.01  # measured: max 1 level, mean 0.001


def test_rrdbnet_tiles_match_one_pass_within_the_overlap():
    network = _tiny_resolver("rrdbnet").inference_network()
    images = torch.rand(1, 3, 40, 40) * 2 - 1
    whole = upscale_tensor(network, images, tile=1000, precision="fp32")
    tiled = upscale_tensor(network, images, tile=16, overlap=20, precision="fp32")
    # This net sees 18 input pixels (17 3x3 convs at 1x, 3 at 2x/4x): an overlap of 20 covers it exactly.
    assert (whole - tiled).abs().max() < 1e-5


def test_packaged_model_round_trips_through_safetensors(packaged, tmp_path):
    from ageshift.models.translator import load

    model = packaged("srresnet-x4")
    model.save_pretrained(tmp_path / "sr")
    again = load(tmp_path / "sr")
    assert isinstance(again, SuperResolver) and again.scale == 4
    assert again.card["licences"][0]["licence"] == "Apache-2.0"
    image = Image.fromarray(_photo(16))
    again.precision = "fp32"
    assert np.array_equal(np.asarray(model.upscale(image)), np.asarray(again.upscale(image)))


def test_upscale_gives_pil_and_tensor_results():
    resolver = _tiny_resolver()
    image = random_image(np.random.default_rng(0), (20, 12))
    assert resolver.upscale(image).size == (80, 48)
    assert resolver.upscale(image, scale=2).size == (40, 24)
    batch = torch.rand(2, 3, 12, 20) * 2 - 1
    assert resolver.translate(batch).shape == (2, 3, 48, 80)
    assert resolver.upscale_batch(batch, scale=2).shape == (2, 3, 24, 40)
    with pytest.raises(AgeshiftError, match="no direction"):
        resolver.translate(batch, "older")


def test_bad_inputs_are_clear_errors():
    resolver = _tiny_resolver()
    with pytest.raises(UpscaleError, match="too small"):
        resolver.upscale(Image.new("RGB", (5, 40)))
    with pytest.raises(UpscaleError, match="scale 3 is not available"):
        resolver.upscale(Image.new("RGB", (16, 16)), scale=3)
    with pytest.raises(UpscaleError, match=f"limit of {MAX_OUTPUT_PIXELS // 1_000_000} megapixels"):
        check_upscale(6000, 5000, 4, 4, "big.png")
    huge = Image.new("RGB", (5200, 5200))  # refused before any tile runs (a ×4 would be 433 MP)
    with pytest.raises(UpscaleError, match="big.jpg.*over the limit"):
        resolver.upscale(huge, source="big.jpg")
    x2 = SuperResolver(
        SRResNet(channels=4, num_blocks=1, scale=2), {"scale": 2, "channels": 4, "num_blocks": 1}
    )
    with pytest.raises(UpscaleError, match="choose 2"):
        x2.upscale(Image.new("RGB", (16, 16)), scale=4)


def test_unknown_packaged_name_and_missing_package(monkeypatch):
    from ageshift import assets
    from ageshift.models.superres.resolver import load_packaged

    with pytest.raises(AgeshiftError, match="choose one of"):
        load_packaged("esrgan-x8")

    def missing(package, relative, extra, feature, distribution=None):
        raise MissingDependencyError(package.replace("_", "-"), extra, feature)

    monkeypatch.setattr(assets, "package_file", missing)
    with pytest.raises(MissingDependencyError, match="ageshift install-assets"):
        load_packaged("realesrgan-x4")


def test_upscale_cli_file_folder_and_errors(packaged, tmp_path, capsys):
    packaged("srresnet-x4")
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    Image.fromarray(_photo(16)).save(source / "a.png")
    Image.fromarray(_photo(12)).save(source / "sub" / "b.jpg")
    code, _, err = run_cli(
        ["upscale", source / "a.png", tmp_path / "a4.png", "--model", "srresnet-x4"], capsys
    )
    assert code == 0, err
    assert Image.open(tmp_path / "a4.png").size == (64, 64)
    code, _, err = run_cli(
        ["upscale", source, tmp_path / "out", "--model", "srresnet-x4", "--scale", "2"], capsys
    )
    assert code == 0, err
    assert Image.open(tmp_path / "out" / "sub" / "b.png").size == (24, 24)
    code, _, err = run_cli(
        ["upscale", source / "a.png", tmp_path / "x.png", "--model", "srresnet-x4", "--scale", "3"], capsys
    )
    assert code == 2 and "scale 3" in err
    code, _, err = run_cli(["upscale", source / "a.png", source / "a.png", "--model", "srresnet-x4"], capsys)
    assert code == 2 and "input" in err
    Image.new("RGB", (4, 4)).save(source / "tiny.png")
    code, _, err = run_cli(
        ["upscale", source / "tiny.png", tmp_path / "t.png", "--model", "srresnet-x4"], capsys
    )
    assert code == 2 and "too small" in err and "Traceback" not in err
    code, _, err = run_cli(["upscale", source / "a.png", tmp_path / "i.png", "--model", "identity"], capsys)
    assert code == 2 and "not a super-resolution model" in err


def test_evaluate_upscaling_beats_bicubic_on_a_photo(packaged, tmp_path, capsys):
    import json

    packaged("srresnet-x4")
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(_photo(64)).save(folder / "astronaut.png")
    Image.new("RGB", (20, 20)).save(folder / "tiny.png")
    code, out, err = run_cli(
        ["evaluate-upscaling", "srresnet-x4", "--data", folder, "--json", tmp_path / "sr.json"], capsys
    )
    assert code == 0, err
    figures = json.loads((tmp_path / "sr.json").read_text())
    assert figures["images"] == 1 and "too small" in figures["skipped"][0]
    methods = figures["methods"]
    assert methods["model"]["psnr_db"] > methods["bicubic"]["psnr_db"]
    assert "lanczos" in out
