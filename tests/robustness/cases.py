"""The bad inputs and the commands they are tried on: one table, so a new command gets every case.

Each case writes its input into a fresh folder; each command turns (input, output) into a command line and
says where its result goes. A command that treats a case differently says so in ``special``.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .harness import Expect

FACE_SIDE = 256


def tiny_upscaler(shared: dict) -> Path:
    """A real exported ×4 SRResNet with 4 channels and 1 block (``upscale`` in milliseconds), written once."""
    folder = Path(shared["root"]) / "tiny-upscaler"
    if not (folder / "config.json").is_file():
        import torch

        from ageshift.models.superres import SRResNet, SuperResolver

        torch.manual_seed(0)
        config = {"architecture": "srresnet", "channels": 4, "num_blocks": 1, "image_size": 32}
        SuperResolver(SRResNet(channels=4, num_blocks=1), config, precision="fp32").save_pretrained(folder)
    return folder


def tiny_stylegan(shared: dict) -> Path:
    """A real exported 8² StyleGAN with 8 channels (``stylize`` in well under a second), written once."""
    folder = Path(shared["root"]) / "tiny-stylegan"
    if not (folder / "config.json").is_file():
        import torch

        from ageshift.models.stylegan import StyleGAN, StyleGANConfig, StyleGANFamily

        torch.manual_seed(0)
        config = StyleGANConfig(image_size=8, latent_dim=8, w_dim=8, channel_base=64, channel_max=8)
        StyleGANFamily.export(StyleGAN(config), 8, {}, {"family": "stylegan"}).save_pretrained(folder)
    return folder


def tiny_makeup(shared: dict) -> Path:
    """A real exported 32² makeup (beautygan) model with 4 channels, written once."""
    folder = Path(shared["root"]) / "tiny-makeup"
    if not (folder / "config.json").is_file():
        import torch

        from ageshift.models.beautygan import BeautyGANFamily
        from ageshift.models.beautygan.config import BeautyGANConfig
        from ageshift.models.beautygan.model import BeautyGAN

        torch.manual_seed(0)
        config = BeautyGANConfig(channels=4, num_res_blocks=1, disc_channels=4, perceptual_weight=0.0)
        BeautyGANFamily.export(BeautyGAN(config), 32, {}, {"family": "beautygan"}).save_pretrained(folder)
    return folder


def face_photo() -> Image.Image:
    """A real public-domain face photo (scikit-image's astronaut), small enough to be quick."""
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((FACE_SIDE, FACE_SIDE), Image.Resampling.LANCZOS)


def no_face_photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.coffee()).resize((200, 150), Image.Resampling.LANCZOS)


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _bomb_png(side: int = 30_000) -> bytes:
    """A valid PNG of ``side``² black pixels that compresses to kilobytes (a decompression bomb)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit grayscale
    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    data = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _write(folder: Path, name: str, content: bytes | Image.Image, **save: object) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        content.save(path, **save)
    return path


def _animated(folder: Path, name: str) -> Path:
    face = face_photo()
    frames = [face, face.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(folder / name, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return folder / name


@dataclass
class Case:
    """One bad (or unusual but valid) input: how to write it and what a command should do with it."""

    name: str
    build: Callable[[Path], Path]
    expect: str  # "ok" | "error" | "partial" | "noface"
    mention: bool = False  # wherever the input's name is printed, its [...] parts must survive


IMAGE_CASES = [
    Case("truncated", lambda d: _write(d, "truncated.png", _png_bytes(face_photo())[:4000]), "error"),
    Case("zero-byte", lambda d: _write(d, "empty.png", b""), "error"),
    Case(
        "text renamed .jpg",
        lambda d: _write(d, "notes.jpg", b"this is a text file, not a photo\n" * 20),
        "error",
    ),
    Case("png renamed .jpg", lambda d: _write(d, "really-png.jpg", _png_bytes(face_photo())), "ok"),
    Case("decompression bomb", lambda d: _write(d, "bomb.png", _bomb_png()), "error"),
    Case("animated gif", lambda d: _animated(d, "animated.gif"), "error"),
    Case("animated png", lambda d: _animated(d, "animated.png"), "ok"),
    Case("1x1", lambda d: _write(d, "dot.png", Image.new("RGB", (1, 1), (128, 100, 90))), "noface"),
    Case("no face", lambda d: _write(d, "coffee.png", no_face_photo()), "noface"),
    Case("unicode path", lambda d: _write(d, "visage-é-顔.png", face_photo()), "ok"),
    Case("bracket path", lambda d: _write(d, "[bracket] face.png", face_photo()), "ok", mention=True),
]


@dataclass
class Command:
    """How a command takes an image input: its command line and where its result for that input goes.

    ``noface`` is what the command should do with an image without a face: ``ok`` for commands that do
    not look for faces, otherwise the documented no-face behaviour (written unchanged / reported).
    """

    name: str
    argv: Callable[[Path, Path, dict], list]  # (input, output, shared fixtures) -> command line
    result: Callable[[Path, Path], Path]
    output_is_folder: bool
    noface: str = "ok"
    folder_input: bool = True  # also takes a folder of photos (for the collision and partial cases)
    special: dict[str, str] = field(default_factory=dict)  # case name -> what this command does instead

    def expect(self, case: Case, source: Path, out: Path) -> Expect:
        result = self.noface if case.expect == "noface" else case.expect
        result = self.special.get(case.name, result)
        outputs = [self.result(source, out)] if result in ("ok", "partial") else []
        reason = source.name if result == "error" else ""
        return Expect(result, outputs, [source.name] if case.mention else [], reason=reason)


def _stem_png(source: Path, folder: Path) -> Path:
    return folder / (source.stem + ".png")


IMAGE_COMMANDS = [
    Command(
        "translate",
        lambda src, out, shared: ["translate", "identity", src, out, "--direction", "older"],
        lambda src, out: out if out.suffix else _stem_png(src, out),
        output_is_folder=False,
    ),
    Command(
        "age",
        lambda src, out, shared: ["age", src, "--model", "identity", "--direction", "older", "--out", out],
        _stem_png,
        output_is_folder=True,
        noface="ok",  # the photo is written unchanged and the table says 0 faces
    ),
    Command(
        "age-sweep",
        lambda src, out, shared: [
            "age-sweep",
            src,
            "-m",
            "identity",
            "-d",
            "older",
            "--strengths",
            "0,1",
            "--out",
            out,
        ],
        lambda src, out: out,
        output_is_folder=False,
        noface="error",
        folder_input=False,
    ),
    Command(
        "upscale",
        lambda src, out, shared: ["upscale", src, out, "--model", tiny_upscaler(shared)],
        lambda src, out: out if out.suffix else _stem_png(src, out),
        output_is_folder=False,
        special={"1x1": "error"},  # too small to upscale: refused, naming the file
    ),
    Command(
        "stylize",
        lambda src, out, shared: [
            "stylize",
            src,
            "--base",
            tiny_stylegan(shared),
            "--style",
            tiny_stylegan(shared),
            "--swap-at",
            "4",
            "--steps",
            "2",
            "--out",
            out,
        ],
        lambda src, out: out,
        output_is_folder=False,
        noface="ok",  # no face: the centred square is stylized (pets, anything)
        folder_input=False,
    ),
    Command(
        "makeup",
        lambda src, out, shared: ["makeup", src, "--model", tiny_makeup(shared), "--remove", "--out", out],
        _stem_png,
        output_is_folder=True,
        noface="ok",  # as for age: the photo is written unchanged with 0 faces
    ),
    Command(
        "estimate-age",
        lambda src, out, shared: ["estimate-age", src, "--detector", "mtcnn", "--json", out],
        lambda src, out: out,
        output_is_folder=False,
        noface="ok",  # reported as "no face found" in the table and the JSON
        folder_input=False,
    ),
]


def output_suffix(command: Command) -> str:
    if command.name == "estimate-age":
        return ".json"
    return "" if command.output_is_folder else ".png"


def random_photo(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
