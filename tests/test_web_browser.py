"""The page in a real browser: Debian's Chromium driven by Playwright against a server on 127.0.0.1.

Skipped (with the reason) only when Playwright or a system Chromium is missing: ``.ci/install-browser``
installs Chromium with apt.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import ageshift
from ageshift.models.conditions import Condition, ConditionSpec
from ageshift.models.translator import Translator
from ageshift.web import FACE_TABLE_COLUMNS
from ageshift.web.browser import clear_upload, find_chromium, free_port, open_browser, transform_in_page

pytestmark = pytest.mark.browser

pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright (pip install 'ageshift[dev]')"
)
pytest.importorskip("gradio", reason="the page needs ageshift[web]")
pytest.importorskip("onnxruntime", reason="face detection needs ageshift[faces]")
skimage_data = pytest.importorskip("skimage.data", reason="test photos come from scikit-image")
if find_chromium() is None:
    pytest.skip(
        "browser tests skipped: no Chromium at /usr/bin/chromium (run .ci/install-browser or "
        "`apt-get install chromium`, or set AGESHIFT_CHROMIUM)",
        allow_module_level=True,
    )

UPLOAD_LIMIT_MB = 1


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module")
def outbound_connections() -> Iterator[list[str]]:
    """Every non-loopback address this process (server included) tries to connect to."""
    attempts: list[str] = []
    original_connect = socket.socket.connect

    def recording_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(str(address[0])):
            attempts.append(str(address[0]))
        return original_connect(self, address)

    socket.socket.connect = recording_connect
    try:
        yield attempts
    finally:
        socket.socket.connect = original_connect


@pytest.fixture(scope="module")
def running_app(outbound_connections):
    """The page for the identity model on a free loopback port: ``(blocks, url)``."""
    from ageshift.web import ServeSettings, build_app, launch

    settings = ServeSettings(port=free_port(), max_upload_mb=UPLOAD_LIMIT_MB)
    blocks = build_app(ageshift.load("identity"), settings, model_name="identity")
    url = launch(blocks, settings, block=False)
    yield blocks, url.rstrip("/")
    blocks.close()


@pytest.fixture(scope="module")
def server(running_app) -> str:
    return running_app[1]


class BrighteningTranslator(Translator):
    """A conditional model (target age and hair colour) that brightens by ``target_age / 100``."""

    any_size = True

    def __init__(self) -> None:
        spec = ConditionSpec(age=(10, 90), attributes={"hair": ("black", "blond", "brown")})
        super().__init__({"generator": nn.Identity()}, "brightening", {}, 64, spec)

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        return images + (condition.target_age or 0) / 100


@pytest.fixture(scope="module")
def conditional_server(outbound_connections) -> Iterator[str]:
    """The page for a conditional model on another free loopback port."""
    from ageshift.web import ServeSettings, build_app, launch

    settings = ServeSettings(port=free_port())
    blocks = build_app(BrighteningTranslator(), settings, model_name="brightening")
    yield launch(blocks, settings, block=False).rstrip("/")
    blocks.close()


@pytest.fixture(scope="module")
def cached_files() -> list[Path]:
    """Temporary files the server wrote (upload copies, result images), checked for deletion at the end."""
    return []


def _served_path(url: str) -> Path:
    """The server-side file behind a ``/gradio_api/file=PATH`` URL."""
    return Path(unquote(url.split("/gradio_api/file=", 1)[1]))


@pytest.fixture(scope="module")
def browser():
    with open_browser() as opened:
        yield opened


@pytest.fixture(scope="module")
def page_requests() -> list[str]:
    return []


@pytest.fixture(scope="module")
def page(browser, server, page_requests):
    # One page for the module (loading it costs seconds on 2 cores); each test starts with no file chosen.
    opened = browser.new_page(viewport={"width": 1280, "height": 900})
    opened.on("request", lambda request: page_requests.append(request.url))
    opened.goto(server, wait_until="networkidle")
    yield opened
    opened.close()


@pytest.fixture
def blank_page(page):
    clear_upload(page)
    return page


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    paths = {
        name: folder / name for name in ("astronaut.png", "coffee.jpg", "corrupt.png", "notes.txt", "big.png")
    }
    Image.fromarray(skimage_data.astronaut()).save(paths["astronaut.png"])
    Image.fromarray(skimage_data.coffee()).save(paths["coffee.jpg"], quality=90)
    paths["corrupt.png"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
    paths["notes.txt"].write_text("not a photo")
    paths["big.png"].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(int((UPLOAD_LIMIT_MB + 0.5) * 1024 * 1024)))
    return paths


def test_astronaut_upload_shows_before_after_and_the_face_table(blank_page, photos, server, cached_files):
    page = blank_page
    message = transform_in_page(page, photos["astronaut.png"], "older")
    assert "1 face found" in message
    after_source = page.locator("#after img").get_attribute("src")
    assert after_source and urlsplit(after_source).hostname in ("127.0.0.1", None)
    upload_copy = page.locator("#upload a[download]").get_attribute("href")
    cached_files.extend(_served_path(url) for url in (after_source, upload_copy))
    assert all(path.is_file() for path in cached_files)
    download = page.locator("#after").get_by_role("button", name="Download")
    assert download.count() == 1
    with urllib.request.urlopen(
        server + "/" + after_source.split(server + "/", 1)[-1], timeout=20
    ) as response:
        result = Image.open(response)
        assert result.size == (512, 512) and result.format == "PNG"
    assert page.locator("#before img").count() == 1
    rows = page.locator("#faces tbody tr")
    assert rows.count() == 1
    cells = [cell.strip() for cell in rows.first.locator("td").all_text_contents()]
    assert cells[0] == "1" and len(cells) == len(FACE_TABLE_COLUMNS) and float(cells[-1]) > 0.9


def test_error_paths_show_friendly_messages(blank_page, photos):
    page = blank_page
    page.locator("#run").click()
    page.locator("#message").get_by_text("Please upload a photo first").wait_for(timeout=30_000)
    assert "Could not read this file: 'corrupt.png'" in transform_in_page(page, photos["corrupt.png"])
    assert "No face was found" in transform_in_page(page, photos["coffee.jpg"], "younger")
    # A type we do not decode never reaches the server's handler: the page refuses it.
    clear_upload(page)
    page.locator("#upload input[type=file]").set_input_files(str(photos["notes.txt"]))
    page.get_by_text("Invalid file type").wait_for(timeout=30_000)


def test_oversize_uploads_are_refused(blank_page, photos, server):
    page = blank_page
    page.locator("#upload input[type=file]").set_input_files(str(photos["big.png"]))
    page.get_by_text("exceed the maximum allowed size").first.wait_for(timeout=30_000)
    # Not just in the page: the server refuses the bytes too.
    response = page.request.post(
        server + "/gradio_api/upload",
        multipart={
            "files": {"name": "big.png", "mimeType": "image/png", "buffer": photos["big.png"].read_bytes()}
        },
    )
    assert response.status == 413


@pytest.mark.parametrize(
    "path",
    [
        "/file=/etc/passwd",
        "/file=../../etc/passwd",
        "/gradio_api/file=/etc/passwd",
        "/gradio_api/file=../../etc/passwd",
        "/gradio_api/file=..%2F..%2F..%2Fetc%2Fpasswd",
        "/gradio_api/file=%2Fetc%2Fpasswd",
        "/gradio_api/file=%252Fetc%252Fpasswd",
        "/gradio_api/file=....//....//etc/passwd",
        "/static/../../../../etc/passwd",
        "/assets/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/gradio_api/file=" + str(Path(ageshift.__file__).resolve()),
    ],
)
def test_path_traversal_urls_are_refused(server, path):
    request = urllib.request.Request(server + path)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    assert status in (403, 404), f"{path} answered {status}"
    # The refusal may echo the path, never the file: look for its contents.
    assert b"root:x:0" not in body and b"__version__" not in body


def test_api_calls_cannot_make_the_server_read_its_own_files(server, photos):
    # A client could name any server path as the "uploaded" file; only real uploads may reach process().
    for target in ("/etc/passwd", str(photos["astronaut.png"])):
        payload = {
            "data": [
                {"path": target, "meta": {"_type": "gradio.FileData"}},
                "older",
                1.0,
                "each face",
                "none",
            ]
        }
        request = urllib.request.Request(
            server + "/gradio_api/call/transform",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            event_id = json.loads(response.read())["event_id"]
        with urllib.request.urlopen(f"{server}/gradio_api/call/transform/{event_id}", timeout=60) as response:
            events = response.read().decode()
        assert events.startswith("event: error"), events[:300]
        assert "root:x:0" not in events and "face found" not in events


def test_conditional_model_page_sets_the_age_slider_and_hair(browser, conditional_server, photos):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(conditional_server, wait_until="networkidle")
        assert page.locator("#direction").count() == 0
        slider = page.locator("#target_age input[type=range]")
        assert (slider.get_attribute("min"), slider.get_attribute("max"), slider.input_value()) == (
            "10",
            "90",
            "50",
        )
        controls = {"target_age": 70, "attribute-hair": "blond"}
        message = transform_in_page(page, photos["astronaut.png"], None, "whole picture", controls)
        assert "age 70, hair=blond" in message
        assert slider.input_value() == "70" and page.locator("#after img").count() == 1
    finally:
        page.close()


def test_video_section_ages_a_short_clip_in_the_page(blank_page, tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    clip = tmp_path / "clip.mp4"
    frame = np.asarray(Image.fromarray(skimage_data.astronaut()).resize((128, 128)))
    writer = imageio_ffmpeg.write_frames(str(clip), (128, 128), fps=12, macro_block_size=1)
    writer.send(None)
    for _ in range(12):
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    page = blank_page
    page.get_by_text("Video (up to").click()
    page.locator("#video input[type=file]").set_input_files(str(clip))
    page.locator("#run-video").click()
    page.locator("#video-message").get_by_text("Done:").wait_for(timeout=60_000)
    assert "12 frames of 128x128" in page.locator("#video-message").inner_text()
    assert page.locator("#video-after video").count() == 1


def test_no_request_leaves_the_machine(page, page_requests, outbound_connections, server):
    # Runs last: the earlier tests loaded the page several times and ran the model.
    page.reload(wait_until="networkidle")
    hosts = {urlsplit(url).hostname for url in page_requests if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, f"the page requested {hosts}"
    assert outbound_connections == [], f"the server connected to {outbound_connections}"


def test_temporary_files_are_deleted_when_the_server_stops(running_app, cached_files):
    # Runs last: stopping the server is what this checks.
    assert cached_files, "the upload test recorded no server files"
    blocks, _ = running_app
    blocks.close()
    deadline = time.monotonic() + 20
    while any(path.exists() for path in cached_files) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [path for path in cached_files if path.exists()]
