"""ONNX export and the onnxruntime backend: parity with PyTorch (≤ 1e-4) for every family, dynamic sizes, the
contract in the model card, int8 graphs, the CLI (`export-onnx`, `export --onnx`, `--backend onnxruntime`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ageshift
from ageshift.errors import AgeshiftError, ModelLoadError
from ageshift.registry import get_family

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from tests.conftest import run_cli  # noqa: E402

from ageshift.onnx.export import OnnxExportError, export_onnx  # noqa: E402
from ageshift.onnx.runtime import create_session, load_onnx  # noqa: E402

TOLERANCE = 1e-4
ATTRIBUTES = {"hair": ["black", "blond", "brown"], "glasses": ["none", "glasses"]}
TINY_CYCLEGAN = {"channels": 4, "num_res_blocks": 1}
TINY_STARGAN = {
    "discriminator": {"channels": 4, "num_layers": 3},
    "image_size": 32,
    "age_range": [15, 80],
    "attributes": ATTRIBUTES,
}

#: (name, family, preset, overrides, image size): every family and each op the exporter must get right
#: (reflection/replicate/zero padding, instance/batch norm, transposed conv, nearest/bilinear upsampling, the
#: residual tanh(atanh(x) + Δ) output, the directed output, tiled/FiLM conditions, pixel shuffle, one-hot labels).
CASES = [
    ("cyclegan-transpose-residual", "cyclegan", "fast", {"generator": {**TINY_CYCLEGAN, "output": "residual"}}, 32),
    ("cyclegan-bilinear-replicate", "cyclegan", "fast",
     {"generator": {**TINY_CYCLEGAN, "upsample": "bilinear", "padding": "replicate"}}, 32),
    ("cyclegan-conv-bilinear-affine", "cyclegan", "fast",
     {"generator": {**TINY_CYCLEGAN, "upsample": "conv_bilinear", "norm_affine": True}}, 32),
    ("cyclegan-resize-batchnorm", "cyclegan", "fast",
     {"generator": {**TINY_CYCLEGAN, "upsample": "resize", "padding": "zeros", "norm": "batch"}}, 32),
    ("stargan-film-directed", "stargan", "fast",
     {**TINY_STARGAN, "generator": {"channels": 4, "num_res_blocks": 1, "conditioning": "film"}}, 32),
    ("stargan-tile-residual-bilinear", "stargan", "fast",
     {**TINY_STARGAN, "generator": {"channels": 4, "num_res_blocks": 1, "conditioning": "tile",
                                    "output": "residual", "upsample": "bilinear"}}, 32),
    ("stargan-both-image-transpose", "stargan", "fast",
     {**TINY_STARGAN, "generator": {"channels": 4, "num_res_blocks": 1, "conditioning": "both",
                                    "output": "image", "upsample": "transpose"}}, 32),
    ("superres-srresnet", "superres", "tiny", {"channels": 8, "batchnorm": True}, 32),
    ("superres-rrdbnet", "superres", "tiny", {"architecture": "rrdbnet", "channels": 8, "num_blocks": 1, "growth": 4}, 32),
    ("gan-mlp", "gan", "mlp", {}, 16),
    ("cgan-dcgan", "cgan", "dcgan", {"classes": ["0", "1", "2"]}, 16),
]  # fmt: skip


def _perturb_norms(module: torch.nn.Module) -> None:
    """Non-trivial norm statistics and affine parameters, so fusing and exporting them is really tested."""
    generator = torch.Generator().manual_seed(1)
    for child in module.modules():
        if isinstance(child, torch.nn.modules.batchnorm._BatchNorm):
            child.running_mean.uniform_(-0.2, 0.2, generator=generator)
            child.running_var.uniform_(0.5, 2.0, generator=generator)
        if isinstance(child, torch.nn.modules.batchnorm._NormBase) and child.affine:
            child.weight.data.uniform_(0.5, 1.5, generator=generator)
            child.bias.data.uniform_(-0.3, 0.3, generator=generator)


def _build(tmp_path: Path, family_name: str, preset: str, overrides: dict, size: int):
    family = get_family(family_name)
    torch.manual_seed(0)
    model = family.build(family.model_config(preset, overrides)).eval()
    _perturb_norms(model)
    translator = family.export(model, size, {"crop": None}, {"family": family_name})
    if hasattr(translator, "precision"):
        translator.precision = "fp32"  # parity against the exact path (auto may pick bf16 on this CPU)
    folder = tmp_path / family_name
    translator.save_pretrained(folder)
    return translator, folder


def _astronaut(side: int) -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    face = Image.fromarray(data.astronaut()[0:200, 140:340]).resize((side, side), Image.Resampling.LANCZOS)
    return (np.asarray(face, np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0).astype(np.float32)


def _inputs(side: int, multiple: int) -> list[np.ndarray]:
    """A random batch at the model's size, a random one at another allowed size, and the real photo crop."""
    random = np.random.default_rng(0)
    other = (side // multiple + 1) * multiple
    return [
        random.uniform(-1, 1, (2, 3, side, side)).astype(np.float32),
        random.uniform(-1, 1, (1, 3, other, side + multiple)).astype(np.float32),
        _astronaut(side),
    ]


@pytest.mark.parametrize(("name", "family", "preset", "overrides", "size"), CASES, ids=[c[0] for c in CASES])
def test_onnx_graphs_match_pytorch(tmp_path, one_torch_thread, name, family, preset, overrides, size):
    translator, folder = _build(tmp_path, family, preset, overrides, size)
    contract = export_onnx(translator, folder)
    stored = json.loads((folder / "config.json").read_text())["card"]["onnx"]
    assert stored == json.loads(json.dumps(contract))
    assert contract["color"] == "RGB" and contract["range"] == [-1.0, 1.0] and contract["layout"] == "NCHW"
    assert all(value <= TOLERANCE for value in contract["parity"]["max_abs_difference"].values())
    runtime = load_onnx(folder, threads=1)
    worst = 0.0
    if contract["kind"] == "generator":
        noise = np.random.default_rng(0).standard_normal((3, contract["latent_dim"])).astype(np.float32)
        feeds = {"noise": noise}
        labels = None
        if translator.labels:
            feeds["labels"] = labels = np.array([0, 1, 2], np.int64)
        with torch.no_grad():
            expected = (
                translator.networks["generator"](
                    torch.from_numpy(noise), None if labels is None else torch.from_numpy(labels)
                )
                .clamp(-1, 1)
                .expand(-1, 3, -1, -1)
            )
        got = runtime.sessions["generator"].run(["output"], feeds)[0]
        worst = float(np.abs(expected.numpy() - got).max())
        assert got.shape == (3, 3, size, size)
        assert runtime.generate(2, seed=0).shape == (2, 3, size, size)
    elif contract["kind"] == "superres":
        for images in _inputs(24, 4):
            with torch.no_grad():
                expected = translator.inference_network()(torch.from_numpy(images).contiguous()).numpy()
            got = runtime.translate_batch(images)
            assert got.shape == (images.shape[0], 3, images.shape[2] * 4, images.shape[3] * 4)
            worst = max(worst, float(np.abs(np.clip(expected, -1, 1) - got).max()))
    else:
        requests = (
            [{"direction": "older"}, {"direction": "younger", "strength": 0.4}]
            if contract["kind"] == "two-domain"
            else [{"target_age": 70}, {"attributes": {"hair": "blond"}, "strength": 0.5},
                  {"target_age": 20, "attributes": {"glasses": "glasses"}}]
        )  # fmt: skip
        for images in _inputs(size, contract["size_multiple"]):
            for request in requests:
                expected = translator.translate_batch(torch.from_numpy(images), **request).numpy()
                got = runtime.translate_batch(images, **request)
                assert got.shape == images.shape
                worst = max(worst, float(np.abs(expected - got).max()))
    assert worst <= TOLERANCE, f"{name}: onnxruntime differs from PyTorch by {worst:.3g}"


def test_conditional_graph_runs_at_other_sizes_and_batches(tmp_path, one_torch_thread):
    translator, folder = _build(tmp_path, *CASES[4][1:])
    export_onnx(translator, folder)
    session = create_session(folder / "conditional.onnx", threads=1)
    runtime = load_onnx(folder, threads=1)
    for shape in ((3, 3, 32, 32), (1, 3, 48, 64)):
        images = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
        condition, requested = runtime.condition_vector(ageshift.Condition(target_age=60.0), shape[0])
        feeds = {"images": images, "condition": condition, "requested": requested,
                 "strength": np.ones((shape[0], 1), np.float32)}  # fmt: skip
        output, own = session.run(None, feeds)
        assert output.shape == shape and own.shape == condition.shape
        assert np.allclose(own[:, 1:3].sum(axis=1), 1.0) and np.allclose(own[:, 3:].sum(axis=1), 1.0)
        with torch.no_grad():
            expected = translator.run(torch.from_numpy(images), ageshift.Condition(target_age=60.0)).numpy()
        assert np.abs(expected - output).max() <= TOLERANCE


def test_int8_graphs_record_their_quality_loss(tmp_path, one_torch_thread):
    from ageshift.onnx.quantize import quantize_folder

    translator, folder = _build(tmp_path, *CASES[0][1:])
    export_onnx(translator, folder)
    results = quantize_folder(folder)
    assert set(results) == {"older", "younger"}
    contract = json.loads((folder / "config.json").read_text())["card"]["onnx"]
    assert contract["int8"]["graphs"] == {"older": "older.int8.onnx", "younger": "younger.int8.onnx"}
    for name, entry in results.items():
        assert (folder / entry["file"]).stat().st_size < (folder / f"{name}.onnx").stat().st_size
        assert entry["psnr_vs_fp32"] > 25.0, entry  # close to the float graph, but not equal
    quantised = load_onnx(folder, int8=True)
    image = Image.fromarray((np.random.default_rng(0).uniform(0, 255, (32, 32, 3))).astype(np.uint8))
    assert quantised.translate(image, "older").size == (32, 32)


def test_load_onnx_errors_name_the_folder(tmp_path, one_torch_thread):
    translator, folder = _build(tmp_path, *CASES[0][1:])
    with pytest.raises(ModelLoadError, match="has no ONNX graphs; write them with: ageshift export-onnx"):
        load_onnx(folder)
    export_onnx(translator, folder)
    with pytest.raises(ModelLoadError, match="has no int8 graphs"):
        load_onnx(folder, int8=True)
    (folder / "younger.onnx").unlink()
    with pytest.raises(ModelLoadError, match="younger.onnx: the ONNX graph named in config.json is missing"):
        load_onnx(folder)
    (folder / "younger.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelLoadError, match="onnxruntime cannot load the graph"):
        load_onnx(folder)
    document = json.loads((folder / "config.json").read_text())
    document["card"]["onnx"]["kind"] = "three-domain"
    (folder / "config.json").write_text(json.dumps(document))
    with pytest.raises(ModelLoadError, match="card.onnx is malformed"):
        load_onnx(folder)
    with pytest.raises(OnnxExportError, match="identity"):
        export_onnx(ageshift.load("identity"), tmp_path)


def test_runtime_refuses_bad_conditions_like_the_torch_model(tmp_path, one_torch_thread):
    translator, folder = _build(tmp_path, *CASES[4][1:])
    export_onnx(translator, folder)
    runtime = load_onnx(folder)
    assert runtime.conditions == translator.conditions and runtime.image_size == 32
    for request, message in (({"target_age": 120}, "outside this model's range"),
                             ({"attributes": {"hair": "green"}}, "not allowed"),
                             ({"direction": "older"}, "takes a target, not a direction")):  # fmt: skip
        with pytest.raises(ageshift.models.ConditionError, match=message):
            runtime.condition(**request)
        with pytest.raises(ageshift.models.ConditionError, match=message):
            translator.condition(**request)


def test_cli_export_onnx_and_translate_with_onnxruntime(tmp_path, capsys, one_torch_thread):
    translator, folder = _build(tmp_path, *CASES[0][1:])
    out = tmp_path / "onnx-model"
    code, _, err = run_cli(["export-onnx", folder, "--out", out], capsys)
    assert code == 0 and "older.onnx (max |Δ| vs PyTorch" in err, err
    assert {p.name for p in out.iterdir()} == {
        "config.json",
        "model.safetensors",
        "older.onnx",
        "younger.onnx",
    }
    assert not any(p.suffix == ".onnx" for p in folder.iterdir())  # the source model is never modified
    code, _, err = run_cli(["export-onnx", folder, "--out", folder], capsys)
    assert code == 2 and "is the model folder itself" in err
    code, _, err = run_cli(["export-onnx", folder, "--out", out], capsys)
    assert code == 2 and "--overwrite" in err

    photo = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(photo)
    for backend in ("torch", "onnxruntime"):
        code, _, err = run_cli(["translate", out, photo, tmp_path / f"{backend}.png", "-d", "older",
                                "--backend", backend], capsys)  # fmt: skip
        assert code == 0, err
    torch_result = np.asarray(Image.open(tmp_path / "torch.png"), np.int16)
    onnx_result = np.asarray(Image.open(tmp_path / "onnxruntime.png"), np.int16)
    assert np.abs(torch_result - onnx_result).max() <= 1  # one uint8 level: rounding of equal floats
    code, _, err = run_cli(["translate", folder, photo, tmp_path / "x.png", "-d", "older", "--backend", "onnxruntime"],
                           capsys)  # fmt: skip
    assert code == 2 and "has no ONNX graphs" in err
    code, _, err = run_cli(["translate", out, photo, tmp_path / "x.png", "--backend", "tensorrt"], capsys)
    assert code == 2 and "--backend 'tensorrt' is not known" in err
    code, _, err = run_cli(
        ["translate", "identity", photo, tmp_path / "x.png", "--backend", "onnxruntime"], capsys
    )
    assert code == 2 and "runs with --backend torch only" in err
    code, _, err = run_cli(
        ["translate", out, photo, tmp_path / "x.png", "--backend", "onnxruntime", "--device", "cuda"], capsys
    )
    assert code == 2 and "runs on the CPU" in err
    assert not (tmp_path / "x.png").exists()


def test_cli_export_run_with_onnx(tmp_path, capsys, monkeypatch, one_torch_thread):
    translator, _ = _build(tmp_path, *CASES[4][1:])
    translator.metadata["training"] = {"steps": 3}

    def fake_export_run(run, out, checkpoint=None):
        translator.save_pretrained(out)
        return translator

    monkeypatch.setattr("ageshift.training.export_run", fake_export_run)
    (tmp_path / "run").mkdir()
    code, _, err = run_cli(["export", tmp_path / "run", "--out", tmp_path / "model", "--onnx"], capsys)
    assert code == 0 and "conditional.onnx" in err, err
    assert load_onnx(tmp_path / "model").translate(Image.new("RGB", (32, 32)), target_age=50).size == (32, 32)


def test_packaged_srresnet_x4_exports_with_parity(tmp_path, one_torch_thread):
    from ageshift.models.superres.resolver import load_packaged

    try:
        resolver = load_packaged("srresnet-x4")
    except ageshift.errors.AgeshiftError as error:
        pytest.skip(f"srresnet-x4 is not installed here ({error})")
    resolver.precision = "fp32"
    resolver.save_pretrained(tmp_path / "sr")
    contract = export_onnx(resolver, tmp_path / "sr")
    assert contract["scale"] == 4
    images = _astronaut(24)
    with torch.no_grad():
        expected = resolver.inference_network()(torch.from_numpy(images)).clamp(-1, 1).numpy()
    got = load_onnx(tmp_path / "sr", threads=1).translate_batch(images)
    assert np.abs(expected - got).max() <= TOLERANCE


def test_web_page_runs_the_onnx_backend_like_pytorch(tmp_path, one_torch_thread):
    """``serve --backend onnxruntime``: the page's pipeline on the ONNX graphs gives PyTorch's result."""
    data = pytest.importorskip("skimage.data")
    from ageshift.onnx.backends import load_with_backend
    from ageshift.web import process

    translator, folder = _build(tmp_path, *CASES[0][1:])
    export_onnx(translator, folder)
    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    box = {"mode": "whole"}  # no detector needed: the whole picture through the model
    on_torch = process(str(photo), "older", translator=translator, **box)
    on_onnx = process(str(photo), "older", translator=load_with_backend(str(folder), "onnxruntime"), **box)
    difference = np.abs(np.asarray(on_torch.after, np.int16) - np.asarray(on_onnx.after, np.int16))
    assert on_onnx.after.size == on_torch.after.size and difference.max() <= 1
    with pytest.raises(AgeshiftError, match="identity"):
        load_with_backend("identity", "onnxruntime")


def test_reager_student_exports_and_ages_photos_like_pytorch(tmp_path, capsys, one_torch_thread):
    """The re-aging student as a graph: the same change as PyTorch, added at the face's size; in the photo pipeline
    pixels outside the face stay untouched; without the faces' current age the runtime says what to give."""
    from tests.test_reager import tiny_student

    from ageshift.faces import age_photo
    from ageshift.models.conditions import ConditionError

    student = tiny_student(32)
    folder = tmp_path / "student"
    student.save_pretrained(folder)
    contract = export_onnx(student, folder)
    assert (
        contract["kind"] == "reager" and contract["parity"]["max_abs_difference"]["reager.onnx"] <= TOLERANCE
    )
    runtime = load_onnx(folder, threads=1)
    assert runtime.predicts_delta
    faces = _astronaut(64)
    expected = student.translate(torch.from_numpy(faces), target_age=75, current_age=25.0).numpy()
    got = runtime.translate(faces, target_age=75, current_age=25.0)
    assert got.shape == faces.shape and np.abs(got - expected).max() < 0.02  # Pillow's bicubic vs torch's
    change = runtime.change(faces, 75.0, np.array([25.0]))
    assert np.abs(change - student.predict_delta(torch.from_numpy(faces), 75.0, 25.0).numpy()).max() < 1e-3
    with pytest.raises(ConditionError, match="current age"):
        runtime.translate(faces, target_age=75)
    rng = np.random.default_rng(1)
    pixels = rng.integers(30, 220, (90, 120, 3), dtype=np.uint8)
    box = [(30, 20, 90, 80)]
    onnx_photo = age_photo(Image.fromarray(pixels), runtime, target_age=75, current_age=25.0, boxes=box)
    torch_photo = age_photo(Image.fromarray(pixels), student, target_age=75, current_age=25.0, boxes=box)
    x0, y0, x1, y1 = onnx_photo.faces[0].mask_box
    output = np.asarray(onnx_photo.image).astype(int)
    outside = np.ones(pixels.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(output[outside], pixels[outside].astype(int))
    assert np.abs(output - np.asarray(torch_photo.image).astype(int)).max() <= 2
    # The CLI: `ageshift age --backend onnxruntime` with the faces' age; without it, one line saying what to give.
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    args = ["age", tmp_path / "photo.png", "--model", folder, "--backend", "onnxruntime", "-a", "70",
            "--box", "30,20,90,80"]  # fmt: skip
    code, _, err = run_cli([*args, "--current-age", "30", "-o", tmp_path / "aged"], capsys)
    assert code == 0, err
    assert (tmp_path / "aged" / "photo.png").is_file()
    code, _, err = run_cli([*args, "-o", tmp_path / "aged2"], capsys)
    assert code == 2 and "--current-age" in err and "Traceback" not in err


def test_reager_int8_graph_is_measured_on_its_own_inputs(tmp_path, one_torch_thread):
    """int8 quantisation feeds the student its age maps and compares its ``change`` output."""
    from tests.test_reager import tiny_student

    from ageshift.onnx.quantize import quantize_folder

    student = tiny_student(32)
    folder = tmp_path / "student"
    student.save_pretrained(folder)
    export_onnx(student, folder)
    results = quantize_folder(folder)
    assert set(results) == {"reager"} and (folder / "reager.int8.onnx").is_file()
    assert results["reager"]["psnr_vs_fp32"] is None or results["reager"]["psnr_vs_fp32"] > 20.0
    quantised = load_onnx(folder, int8=True)
    faces = _astronaut(32)
    assert quantised.translate(faces, target_age=70, current_age=30.0).shape == faces.shape
