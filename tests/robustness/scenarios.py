"""Every scenario of the CLI robustness table: a name and a function that sets it up in a fresh folder.

A scenario returns the command line, the paths whose files must not change, and what should happen. The
test (``tests/test_robustness_cli.py``) runs each one; ``python -m tests.robustness.report`` counts them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .cases import IMAGE_CASES, IMAGE_COMMANDS, Command, face_photo, output_suffix
from .harness import Expect

Setup = tuple[list, list[Path], Expect]


@dataclass
class Scenario:
    """One row of the table: ``setup(tmp_path, shared)`` writes its inputs and returns the run to judge."""

    name: str
    setup: Callable[[Path, dict], Setup]


def _face_input(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir(exist_ok=True)
    face = tmp_path / "in" / "face.png"
    face_photo().save(face)
    return face


def _bad_image(command: Command, case) -> Callable[[Path, dict], Setup]:
    def setup(tmp_path: Path, shared: dict) -> Setup:
        (tmp_path / "in").mkdir()
        source = case.build(tmp_path / "in")
        out = tmp_path / ("out" + output_suffix(command))
        return command.argv(source, out, shared), [tmp_path / "in"], command.expect(case, source, out)

    return setup


def _output_is_input(command: Command) -> Callable[[Path, dict], Setup]:
    def setup(tmp_path: Path, shared: dict) -> Setup:
        face = _face_input(tmp_path)
        out = face.parent if command.output_is_folder else face
        return command.argv(face, out, shared), [face], Expect("error", reason=face.name)

    return setup


def _output_under_a_file(command: Command) -> Callable[[Path, dict], Setup]:
    def setup(tmp_path: Path, shared: dict) -> Setup:
        face = _face_input(tmp_path)
        blocker = tmp_path / "a-file.txt"
        blocker.write_text("a file, not a folder")
        out = blocker / ("out" + output_suffix(command))
        return command.argv(face, out, shared), [face, blocker], Expect("error", reason=blocker.name)

    return setup


def _output_folder_is_a_file(command: Command) -> Callable[[Path, dict], Setup]:
    def setup(tmp_path: Path, shared: dict) -> Setup:
        face = _face_input(tmp_path)
        existing = tmp_path / "results.png"
        existing.write_bytes(b"precious")
        return command.argv(face, existing, shared), [face, existing], Expect("error", reason=existing.name)

    return setup


def _colliding_names(command: Command) -> Callable[[Path, dict], Setup]:
    def setup(tmp_path: Path, shared: dict) -> Setup:
        face = _face_input(tmp_path)
        face_photo().save(face.with_suffix(".jpg"))
        return (
            command.argv(face.parent, tmp_path / "out", shared),
            [face.parent],
            Expect("error", reason="face."),
        )

    return setup


def _into_the_input_folder(command: Command) -> Callable[[Path, dict], Setup]:
    def setup(tmp_path: Path, shared: dict) -> Setup:
        face = _face_input(tmp_path)
        face_photo().save(face.with_name("other.jpg"))
        return (
            command.argv(face.parent, face.parent, shared),
            [face.parent],
            Expect("error", reason=str(face.parent)),
        )

    return setup


def _one_broken_file(command: Command) -> Callable[[Path, dict], Setup]:
    def setup(tmp_path: Path, shared: dict) -> Setup:
        face = _face_input(tmp_path)
        (face.parent / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        out = tmp_path / "out"
        return command.argv(face.parent, out, shared), [face.parent], Expect("partial", [out / "face.png"])

    return setup


def _report_is_input(tmp_path: Path, shared: dict) -> Setup:
    face = _face_input(tmp_path)
    argv = ["age", face, "-m", "identity", "-d", "older", "--out", tmp_path / "o", "--report", face]
    return argv, [face], Expect("error", reason=face.name)


def _report_unwritable(tmp_path: Path, shared: dict) -> Setup:
    face = _face_input(tmp_path)
    blocker = tmp_path / "a-file.txt"
    blocker.write_text("x")
    argv = [
        "age",
        face,
        "-m",
        "identity",
        "-d",
        "older",
        "--out",
        tmp_path / "o",
        "--report",
        blocker / "r.json",
    ]
    return argv, [face, blocker], Expect("error", reason=blocker.name)


# --- videos (``age clip.mp4``) -------------------------------------------------------------------------


def _tiny_video(path: Path, frames: int = 6) -> Path:
    """A real 6-frame 64×48 H.264 clip of the face photo, written with imageio-ffmpeg."""
    import imageio_ffmpeg
    import numpy as np

    frame = np.asarray(face_photo().resize((64, 48)))
    writer = imageio_ffmpeg.write_frames(str(path), (64, 48), fps=12, macro_block_size=1, quality=8)
    writer.send(None)
    for _ in range(frames):
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path


def _video(kind: str) -> Callable[[Path, dict], Setup]:
    def setup(tmp_path: Path, shared: dict) -> Setup:
        (tmp_path / "in").mkdir()
        clip = _tiny_video(tmp_path / "in" / "clip.mp4")
        if kind == "truncated":
            clip.write_bytes(clip.read_bytes()[:300])
        elif kind == "text renamed .mp4":
            clip.write_text("not a video\n" * 10)
        out = clip if kind == "output is the input" else tmp_path / "aged.mp4"
        argv = ["age", clip, "-m", "identity", "-d", "older", "--out", out]
        if kind == "good clip":
            return argv, [tmp_path / "in"], Expect("ok", [out])
        return argv, [tmp_path / "in"], Expect("error", reason=clip.name)

    return setup


VIDEO_SCENARIOS = {
    name: _video(name) for name in ("good clip", "truncated", "text renamed .mp4", "output is the input")
}


# --- model folders --------------------------------------------------------------------------------------


def tiny_model(shared: dict) -> Path:
    """A real exported two-domain model (16 px, 4 channels), written once per run of the table."""
    folder = Path(shared["root"]) / "tiny-model"
    if not (folder / "config.json").is_file():
        from ageshift.config import to_dict
        from ageshift.models.cyclegan import CycleGAN, cyclegan_config
        from ageshift.models.translator import TwoDomainTranslator

        config = cyclegan_config(
            "fast", {"generator": {"channels": 4, "num_res_blocks": 1}, "image_size": 16}
        )
        torch.manual_seed(0)
        translator = TwoDomainTranslator(CycleGAN(config).generators(), "cyclegan", to_dict(config), 16, {})
        translator.save_pretrained(folder)
    return folder


_DELETE = object()
CONFIG_MUTATIONS: dict[str, tuple[str, object]] = {
    "format_version string": ("format_version", "2"),
    "format_version future": ("format_version", 99),
    "kind unknown": ("kind", "toaster"),
    "family unknown": ("family", "no-such-family"),
    "image_size missing": ("image_size", _DELETE),
    "image_size text": ("image_size", "big"),
    "image_size zero": ("image_size", 0),
    "image_size negative": ("image_size", -16),
    "image_size absurd": ("image_size", 10**9),
    "metadata a list": ("metadata", []),
    "config a string": ("config", "x"),
    "channels negative": ("config.generator.channels", -4),
    "channels absurd": ("config.generator.channels", 10**7),
    "blocks absurd": ("config.generator.num_res_blocks", 10**6),
    "crop not an object": ("metadata.crop", 5),
    "conditions a number": ("conditions", 3),
}
FILE_MUTATIONS = [
    "config not json",
    "config a list",
    "config missing",
    "weights truncated",
    "weights wrong shape",
    "weights missing key",
]


def _mutate_config(document: dict, dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        document = document.setdefault(key, {})
    if value is _DELETE:
        document.pop(last, None)
    else:
        document[last] = value


def broken_model(base: Path, folder: Path, mutation: str) -> Path:
    """A copy of ``base`` with one thing wrong in its config or weights."""
    shutil.copytree(base, folder)
    config, weights = folder / "config.json", folder / "model.safetensors"
    if mutation == "config not json":
        config.write_text("{ not json")
    elif mutation == "config a list":
        config.write_text("[1, 2]")
    elif mutation == "config missing":
        config.unlink()
    elif mutation == "weights truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif mutation in ("weights wrong shape", "weights missing key"):
        tensors = load_file(weights)
        name = sorted(tensors)[0]
        if mutation == "weights missing key":
            del tensors[name]
        else:
            tensors[name] = torch.zeros(3, 3)
        save_file(tensors, weights)
    else:
        document = json.loads(config.read_text())
        _mutate_config(document, *CONFIG_MUTATIONS[mutation])
        config.write_text(json.dumps(document))
    return folder


MODEL_COMMANDS: dict[str, Callable[[Path, Path, Path], list]] = {
    "info": lambda model, face, tmp: ["info", model],
    "translate": lambda model, face, tmp: ["translate", model, face, tmp / "o.png", "-d", "older"],
    "age": lambda model, face, tmp: ["age", face, "--model", model, "-d", "older", "--out", tmp / "o"],
    "evaluate": lambda model, face, tmp: ["evaluate", model, "--data", face.parent, "--out", tmp / "report"],
    "generate": lambda model, face, tmp: ["generate", model, "--count", "2", "--out", tmp / "drawn.png"],
    "upscale": lambda model, face, tmp: ["upscale", face, tmp / "big.png", "--model", model],
    "distill": lambda model, face, tmp: [
        "distill",
        model,
        "--data",
        face.parent,
        "--out",
        tmp / "student",
        "--runs",
        tmp / "runs",
        "-q",
    ],  # fmt: skip
}


def _malformed_model(command: str, mutation: str) -> Callable[[Path, dict], Setup]:
    def setup(tmp_path: Path, shared: dict) -> Setup:
        face = _face_input(tmp_path)
        model = broken_model(tiny_model(shared), tmp_path / "model", mutation)
        return (
            MODEL_COMMANDS[command](model, face, tmp_path),
            [face, model],
            Expect("error", reason=str(model)),
        )

    return setup


# --- training runs --------------------------------------------------------------------------------------

TINY_TRAINING = [
    "model.generator.channels=4",
    "model.generator.num_res_blocks=1",
    "model.discriminator.channels=4",
    "precision=fp32",
    "device=cpu",
    "stages=[{size: 24, batch_size: 1, steps: 2}]",
]


def _two_domain_data(root: Path, broken: bool = False) -> Path:
    for folder in ("trainA", "trainB"):
        (root / folder).mkdir(parents=True)
        for index in range(3):
            image = face_photo().resize((24, 24))
            image.save(root / folder / f"{index}.png")
            if broken:
                (root / folder / f"{index}.png").write_bytes(b"broken")
    return root


def _train(extra: list, reason: str, data: str = "good", out: str = "runs") -> Callable[[Path, dict], Setup]:
    def setup(tmp_path: Path, shared: dict) -> Setup:
        inputs: list[Path] = []
        argv: list = ["train", "--quiet"]
        for item in TINY_TRAINING:
            argv += ["--set", item]
        if data == "missing":
            argv += ["--data", tmp_path / "no-such-data"]
        elif data == "empty":
            (tmp_path / "empty").mkdir()
            argv += ["--data", tmp_path / "empty"]
        else:
            root = _two_domain_data(tmp_path / "data", broken=data == "broken")
            inputs.append(root)
            argv += ["--data", root]
        if out == "a file":
            (tmp_path / "runs").write_text("a file")
            inputs.append(tmp_path / "runs")
        elif out == "under a file":
            (tmp_path / "blocker").write_text("a file")
            inputs.append(tmp_path / "blocker")
            argv += ["--out", tmp_path / "blocker" / "runs"]
            return [*argv, *extra], inputs, Expect("error", reason=reason)
        return [*argv, "--out", tmp_path / "runs", *extra], inputs, Expect("error", reason=reason)

    return setup


TRAIN_SCENARIOS = {
    "data missing": _train([], "no-such-data", data="missing"),
    "data empty": _train([], "empty", data="empty"),
    "data all broken": _train([], "data", data="broken"),
    "out is a file": _train([], "runs", out="a file"),
    "out under a file": _train([], "blocker", out="under a file"),
    "betas one value": _train(["--set", "betas=[0.5]"], "betas"),
    "betas out of range": _train(["--set", "betas=[1.5, 0.999]"], "betas"),
    "learning rate negative": _train(["--set", "learning_rate=-1"], "learning_rate"),
    "unknown key": _train(["--set", "learnig_rate=1e-3"], "learnig_rate"),
    "config file missing": _train(["--config", "no-such-config.yaml"], "no-such-config.yaml"),
    "family unknown": _train(["--family", "no-such-family"], "no-such-family"),
    "resume without runs": _train(["--resume"], "runs"),
}


def _export(kind: str) -> Callable[[Path, dict], Setup]:
    def setup(tmp_path: Path, shared: dict) -> Setup:
        run = tmp_path / "run"
        if kind == "run missing":
            return ["export", run, "--out", tmp_path / "model"], [], Expect("error", reason=str(run))
        (run / "checkpoints").mkdir(parents=True)
        if kind == "corrupt checkpoint":
            (run / "checkpoints" / "step-0000002.pt").write_bytes(b"not a checkpoint")
        elif kind == "malicious pickle":
            import pickle

            class Evil:
                def __reduce__(self):
                    return (print, ("pickle code ran",))

            (run / "checkpoints" / "step-0000002.pt").write_bytes(pickle.dumps(Evil()))
            return (
                ["export", run, "--out", tmp_path / "model"],
                [run],
                Expect("error", forbidden=["pickle code ran"], reason=str(run)),
            )
        out = tmp_path / "model"
        if kind == "out is a file":
            out.write_text("a file")
            return ["export", run, "--out", out], [run, out], Expect("error", reason=str(out))
        return ["export", run, "--out", out], [run], Expect("error", reason=str(run))

    return setup


EXPORT_SCENARIOS = {
    name: _export(name)
    for name in ("run missing", "no checkpoints", "corrupt checkpoint", "malicious pickle", "out is a file")
}


def all_scenarios() -> list[Scenario]:
    """Every row of the table, named ``command: case`` (commands this ageshift lacks are left out)."""
    from ageshift.cli import app

    known = {command.name for command in app.registered_commands}
    rows: list[Scenario] = []
    for command in IMAGE_COMMANDS:
        if command.name not in known:
            continue
        rows += [Scenario(f"{command.name}: {case.name}", _bad_image(command, case)) for case in IMAGE_CASES]
        rows.append(Scenario(f"{command.name}: output is the input", _output_is_input(command)))
        rows.append(Scenario(f"{command.name}: output under a file", _output_under_a_file(command)))
        if command.output_is_folder:
            rows.append(
                Scenario(f"{command.name}: output folder is a file", _output_folder_is_a_file(command))
            )
        if command.folder_input:
            rows.append(Scenario(f"{command.name}: colliding output names", _colliding_names(command)))
            rows.append(
                Scenario(f"{command.name}: results into the input folder", _into_the_input_folder(command))
            )
            rows.append(Scenario(f"{command.name}: one broken file in a folder", _one_broken_file(command)))
    rows.append(Scenario("age: --report is an input", _report_is_input))
    rows.append(Scenario("age: --report under a file", _report_unwritable))
    for command in (name for name in MODEL_COMMANDS if name in known):
        for mutation in [*FILE_MUTATIONS, *CONFIG_MUTATIONS]:
            rows.append(Scenario(f"{command}: model {mutation}", _malformed_model(command, mutation)))
    rows += [Scenario(f"age: video {name}", setup) for name, setup in VIDEO_SCENARIOS.items()]
    rows += [Scenario(f"train: {name}", setup) for name, setup in TRAIN_SCENARIOS.items()]
    rows += [Scenario(f"export: {name}", setup) for name, setup in EXPORT_SCENARIOS.items()]
    return rows
