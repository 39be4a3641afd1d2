"""The image convention, safe image I/O, config handling and the model registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import random_image

from ageshift.config import ConfigError, from_dict, parse_overrides
from ageshift.errors import DataError, ImageLoadError
from ageshift.image import make_grid, pil_to_tensor, resize, tensor_to_pil, tensor_to_uint8
from ageshift.io import list_images, load_image, save_image
from ageshift.models.cyclegan import CycleGANConfig, cyclegan_config
from ageshift.registry import create_model, list_models


def test_pil_tensor_round_trip_is_exact(rng):
    image = random_image(rng)
    tensor = pil_to_tensor(image)
    assert tensor.shape == (3, 24, 32) and tensor.dtype == torch.float32
    assert tensor.min() >= -1 and tensor.max() <= 1
    assert np.array_equal(np.asarray(tensor_to_pil(tensor)), np.asarray(image))


def test_resize_is_noop_at_same_size():
    batch = torch.rand(2, 3, 16, 16) * 2 - 1
    assert resize(batch, 16) is batch
    assert resize(batch, (8, 4)).shape == (2, 3, 8, 4)


def test_make_grid_layout():
    rows = [torch.zeros(3, 3, 4, 4), -torch.ones(2, 3, 4, 4)]
    grid = make_grid(rows, padding=1)
    assert grid.shape == (3, 2 * 5 + 1, 3 * 5 + 1)
    assert grid[0, 0, 0] == 1.0  # padding is white
    assert grid[0, 6, 1] == -1.0  # second row, first tile


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16", "I"])
def test_load_image_converts_every_mode(tmp_path, rng, mode):
    image = random_image(rng, mode="RGB")
    if mode == "I;16":
        array = np.asarray(image.convert("L"), dtype=np.uint16) * 257
        image = Image.fromarray(array)
    else:
        image = image.convert(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I", "I;16") else "x.png")
    image.save(path)
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == (32, 24)
    if mode == "I;16":
        # 16-bit full range maps onto 8-bit, not clipped to white
        assert 0 < np.asarray(loaded).mean() < 255


def test_load_image_applies_exif_orientation(tmp_path, rng):
    image = random_image(rng, size=(40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert load_image(path).size == (20, 40)


def test_transparent_pixels_go_on_white(tmp_path):
    image = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    path = tmp_path / "clear.png"
    image.save(path)
    assert np.asarray(load_image(path))[0, 0].tolist() == [255, 255, 255]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not an image"),
        (b"hello world, not a png", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, ""),
    ],
)
def test_bad_files_raise_named_error(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert "bad.png" in str(info.value) and message in str(info.value)


def test_missing_file_and_decompression_bomb(tmp_path, rng):
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_image(tmp_path / "nope.jpg")
    path = tmp_path / "big.png"
    random_image(rng, size=(200, 200)).save(path)
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(path, max_pixels=1000)


def test_list_images_is_recursive_sorted_and_skips_hidden(tmp_path, rng):
    for name in ["b.jpg", "a.PNG", "sub/c.webp", ".hidden.jpg", ".cache/d.jpg", "notes.txt"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("txt"):
            path.write_text("x")
        else:
            save_image(random_image(rng), path)
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == [
        "a.PNG",
        "b.jpg",
        "sub/c.webp",
    ]
    with pytest.raises(DataError, match="does not exist"):
        list_images(tmp_path / "missing")


def test_save_image_is_atomic_and_leaves_no_temp(tmp_path, rng):
    path = save_image(random_image(rng), tmp_path / "out" / "x.jpg")
    assert path.exists() and [p.name for p in path.parent.iterdir()] == ["x.jpg"]
    assert tensor_to_uint8(pil_to_tensor(load_image(path))).shape == (24, 32, 3)


def test_config_rejects_unknown_keys_and_bad_types():
    with pytest.raises(ConfigError, match="generator.chanels"):
        from_dict(CycleGANConfig, {"generator": {"chanels": 3}})
    with pytest.raises(ConfigError, match="expected an integer"):
        from_dict(CycleGANConfig, {"image_size": "big"})
    with pytest.raises(ConfigError, match="not one of"):
        cyclegan_config("paper", {"gan_loss": "wasserstein"})
    with pytest.raises(ConfigError, match="divisible"):
        cyclegan_config("paper", {"image_size": 30})


def test_overrides_parse_yaml_values():
    assert parse_overrides(["a.b=3", "a.c=1e-4", "d=[64, 128]", "e=fast"]) == {
        "a": {"b": 3, "c": 1e-4},
        "d": [64, 128],
        "e": "fast",
    }
    with pytest.raises(ConfigError):
        parse_overrides(["novalue"])


def test_registry_builds_presets():
    assert "cyclegan" in list_models()
    model = create_model("cyclegan", preset="fast", generator={"channels": 8})
    assert model.config.generator.channels == 8
    with pytest.raises(ConfigError, match="unknown model family"):
        create_model("stylegan9")


@pytest.mark.parametrize("preset", ["fast", "paper"])
def test_preset_shapes_and_ranges(preset):
    model = create_model("cyclegan", preset=preset)
    size = 64
    images = torch.rand(2, 3, size, size) * 2 - 1
    with torch.no_grad():
        for generator in model.generators().values():
            out = generator(images)
            assert out.shape == images.shape and out.abs().max() <= 1
        patches = model.discriminator_old(images)
    assert patches.shape[:2] == (2, 1) and patches.shape[-1] == size // 8 - 2


def test_atomic_write_gives_ordinary_permissions(tmp_path, rng):
    import os

    umask = os.umask(0o022)
    try:
        path = save_image(random_image(rng), tmp_path / "shared.png")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_top_level_api_is_lazy_and_complete():
    import ageshift

    assert callable(ageshift.age_photo) and callable(ageshift.load)
    assert ageshift.load("identity").directions == ("older", "younger")
