"""Drive the page in a real Chromium with Playwright: for the browser tests and the README screenshot.

Playwright's own browser download needs the internet, so this uses the system Chromium (Debian's
``chromium`` package; ``.ci/install-browser`` installs it). Run as a script to refresh the screenshot::

    python -m ageshift.web.browser --model identity --photo astronaut.png --out docs/screenshot.png
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import AgeshiftError, MissingDependencyError

#: Flags that keep a headless Chromium quiet: no background requests to Google, no sync, no updates.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
_CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> Path | None:
    """The system Chromium: ``$AGESHIFT_CHROMIUM``, then the usual Debian/Ubuntu paths, then ``PATH``.

    Returns:
        The executable's path, or ``None`` when none is installed.
    """
    configured = os.environ.get("AGESHIFT_CHROMIUM")
    candidates: list[str | None] = [configured] if configured else []
    candidates += list(_CHROMIUM_CANDIDATES)
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


@contextmanager
def open_browser() -> Iterator[Any]:
    """A headless system Chromium under Playwright, closed on exit.

    Returns:
        A context manager yielding a Playwright ``Browser``.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise MissingDependencyError("playwright", "dev", "driving the page in a browser") from None
    executable = find_chromium()
    if executable is None:
        raise AgeshiftError(
            "no Chromium found (looked at $AGESHIFT_CHROMIUM, "
            f"{', '.join(_CHROMIUM_CANDIDATES)} and PATH); install it with: apt-get install chromium"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def transform_in_page(
    page: Any,
    photo: str | Path,
    direction: str | None = "older",
    mode_label: str = "each face",
    controls: Mapping[str, float | str] | None = None,
) -> str:
    """Upload ``photo`` on an open page, set the controls, press Transform and wait for the result.

    Args:
        page: a Playwright ``Page`` showing the app.
        photo: the file to upload.
        direction: the direction radio's label; ``None`` for models without directions.
        mode_label: the "Apply to" radio's label.
        controls: other controls by ``elem_id``: a number sets a slider (``{"target_age": 70}``), a string
            picks a dropdown choice (``{"attribute-hair": "blond"}``).

    Returns:
        The message the page shows under the controls.
    """
    clear_upload(page)
    page.locator("#upload input[type=file]").set_input_files(str(photo))
    # The file chip appears once the upload has reached the server.
    page.locator(f'#upload td.filename[aria-label="{Path(photo).name}"]').wait_for(timeout=60_000)
    if direction is not None:
        page.locator("#direction").get_by_text(direction, exact=True).click()
    for elem_id, value in (controls or {}).items():
        if isinstance(value, str):
            choose_option(page, elem_id, value)
        else:
            set_slider(page, elem_id, value)
    page.locator("#mode").get_by_text(mode_label, exact=True).click()
    previous = page_message(page)
    page.locator("#run").click()
    # Done when the message box is no longer pending and shows a new text (Gradio's timer is elsewhere).
    page.wait_for_function(
        """previous => {
            const wrapper = document.querySelector('#message [data-testid="markdown-wrapper"]');
            const text = document.querySelector('#message [data-testid="markdown"]');
            return wrapper && text && !wrapper.classList.contains('pending')
                && text.innerText.trim() !== '' && text.innerText.trim() !== previous;
        }""",
        arg=previous,
        timeout=60_000,
    )
    return page_message(page)


def set_slider(page: Any, elem_id: str, value: float) -> None:
    """Type ``value`` into a slider's number box (the slider follows it)."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(f"{value:g}")
    box.press("Enter")


def choose_option(page: Any, elem_id: str, label: str) -> None:
    """Open a dropdown and pick the choice shown as ``label``."""
    page.locator(f"#{elem_id} input[role=combobox]").click()
    page.locator(f"#{elem_id}").get_by_role("option", name=label, exact=True).click()


def clear_upload(page: Any) -> None:
    """Remove a previously chosen file, so the page shows its drop zone (and file input) again."""
    file_input = page.locator("#upload input[type=file]")
    # A chosen file replaces the drop zone; with none chosen, the Clear button sits behind the drop zone.
    if file_input.count() == 0:
        page.locator("#upload button[aria-label='Clear']").click()
    file_input.wait_for(state="attached", timeout=30_000)


def page_message(page: Any) -> str:
    """The text of the page's message line (empty before the first run)."""
    return page.locator('#message [data-testid="markdown"]').inner_text().strip()


def capture_screenshot(
    model: str,
    photo: str | Path,
    out: str | Path,
    direction: str | None = "older",
    width: int = 1280,
    controls: Mapping[str, float | str] | None = None,
) -> Path:
    """Serve ``model`` on a free loopback port, edit ``photo`` in the page and save a screenshot.

    Args:
        model: exported model folder or ``"identity"``.
        photo: the photo to upload.
        out: PNG path of the screenshot (written atomically).
        direction: ``"older"`` or ``"younger"``; ignored for models without directions.
        width: browser viewport width in pixels.
        controls: other controls by ``elem_id``, as for :func:`transform_in_page`.

    Returns:
        The screenshot path.
    """
    from .. import load
    from ..io import atomic_write
    from .app import ServeSettings, build_app, launch

    translator = load(model)
    settings = ServeSettings(port=free_port())
    blocks = build_app(translator, settings, model_name=Path(model).name or model)
    url = launch(blocks, settings, block=False)
    try:
        with open_browser() as browser:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(url, wait_until="networkidle")
            transform_in_page(
                page, photo, direction if translator.conditions.directions else None, controls=controls
            )
            page.locator("#after img").wait_for(timeout=30_000)
            png = page.screenshot(full_page=True)
    finally:
        blocks.close()
    with atomic_write(out) as stream:
        stream.write(png)
    return Path(out)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _main() -> None:
    parser = argparse.ArgumentParser(description="Screenshot the ageshift page aging one photo.")
    parser.add_argument("--model", default="identity")
    parser.add_argument("--photo", required=True)
    parser.add_argument("--out", default="docs/screenshot.png")
    parser.add_argument("--direction", default="older")
    parser.add_argument("--target-age", type=float, help="for models with an age range")
    arguments = parser.parse_args()
    controls = {"target_age": arguments.target_age} if arguments.target_age is not None else None
    print(
        capture_screenshot(
            arguments.model, arguments.photo, arguments.out, arguments.direction, controls=controls
        )
    )


if __name__ == "__main__":
    _main()
