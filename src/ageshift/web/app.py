"""The local web page: a Gradio ``Blocks`` app over :func:`ageshift.web.pipeline.process`.

The page holds no model logic: it uploads a file, hands its path to ``process`` and shows what comes back.
Its condition controls are made from the model's ``conditions.describe()``, never from family names: a
direction choice for two-domain models, an age slider and one dropdown per attribute for conditional ones,
and a strength slider for every model; an "upscale the face" dropdown (off by default) adds a
super-resolution stage on each edited face.
Safe defaults live here: loopback binding, an upload size limit, an allow-list of image types, a bounded
queue, temporary files deleted after a while, no share links, no telemetry, no file serving beyond Gradio's
own upload cache (``allowed_paths`` is never set), and nothing loaded from outside the machine.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, MissingDependencyError
from ..io import IMAGE_SUFFIXES
from .pipeline import FACE_TABLE_COLUMNS, UPSCALE_CHOICES, ProcessResult, process

#: Labels of the mode choice, mapped to ``process``'s ``mode`` values.
MODE_LABELS = {"each face": "faces", "whole picture": "whole"}
#: The value of an attribute dropdown's first choice: leave that attribute as it is.
KEEP = "keep"
#: What the "upscale the face" dropdown shows for each of ``UPSCALE_CHOICES``.
UPSCALE_LABELS = {
    "none": "none (fastest)",
    "srresnet-x4": "srresnet-x4 (faithful, fast)",
    "realesrgan-x4": "realesrgan-x4 (real photos, slower)",
    "srgan-x4": "srgan-x4 (sharper texture)",
}


@dataclass(frozen=True)
class ServeSettings:
    """How the page is served.

    Attributes:
        host: interface to bind; ``127.0.0.1`` keeps the page on this machine.
        port: TCP port; ``None`` lets Gradio pick a free one from 7860 upwards.
        max_upload_mb: uploads larger than this many megabytes are refused before they reach the model.
        detector: face detector name passed to the face pipeline.
        max_queue: requests waiting beyond this are turned away ("queue full") instead of piling up.
        concurrency: photos processed at the same time (one keeps CPU memory and latency predictable).
        cache_seconds: uploaded and generated files older than this are deleted (checked as often).
        max_pixels: photos with more pixels are refused (a small file can still decode to a huge image).
    """

    host: str = "127.0.0.1"
    port: int | None = None
    max_upload_mb: float = 20.0
    detector: str = "mtcnn"
    max_queue: int = 16
    concurrency: int = 1
    cache_seconds: int = 900
    max_pixels: int = 50_000_000

    def __post_init__(self) -> None:
        if not self.max_upload_mb > 0:
            raise ConfigError(f"max_upload_mb must be > 0, got {self.max_upload_mb}")
        if self.port is not None and not 0 < self.port < 65536:
            raise ConfigError(f"port must be between 1 and 65535, got {self.port}")
        for name in ("max_queue", "concurrency", "cache_seconds", "max_pixels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)


def import_gradio() -> Any:
    """Import Gradio with telemetry and update checks switched off (they would contact servers on the web)."""
    # Gradio reads these when it is imported and when a page is built, so set them first.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_SSR_MODE", "False")
    try:
        import gradio
    except ImportError:
        raise MissingDependencyError("gradio", "web", "the web page (ageshift serve)") from None
    return gradio


def build_app(translator: Any, settings: ServeSettings | None = None, model_name: str = "") -> Any:
    """Build the page for one loaded model.

    Args:
        translator: the model (``ageshift.load(...)``), the same object the CLI uses.
        settings: detector and cache settings; defaults to ``ServeSettings()``.
        model_name: shown in the page header.

    Returns:
        A ``gradio.Blocks`` app, not yet launched.
    """
    from ..faces import create_detector
    from ..faces.makeup import is_makeup_model

    gr = import_gradio()
    settings = settings or ServeSettings()
    # One detector for the page's lifetime: loading its networks per request would add seconds to each.
    detector = create_detector(settings.detector)
    with gr.Blocks(
        title="ageshift",
        analytics_enabled=False,
        delete_cache=(settings.cache_seconds, settings.cache_seconds),
    ) as blocks:
        gr.Markdown(
            f"## ageshift: change a face's age\nModel: `{model_name or translator.family}`. "
            "Drop a photo, choose the change, press **Transform**. Everything runs on this machine."
        )
        with gr.Row():
            upload = gr.File(
                label="Photo",
                file_count="single",
                file_types=sorted(IMAGE_SUFFIXES),
                type="filepath",
                elem_id="upload",
            )
            # A model that copies a reference face (makeup) gets a second upload; the rest of the page is shared.
            takes_reference = is_makeup_model(translator)
            references = []
            if takes_reference:
                references.append(
                    gr.File(
                        label="Reference face (its makeup is copied; not needed for 'remove')",
                        file_count="single",
                        file_types=sorted(IMAGE_SUFFIXES),
                        type="filepath",
                        elem_id="reference",
                    )
                )
            with gr.Column():
                names, controls = condition_controls(gr, translator.conditions.describe())
                mode = gr.Radio(list(MODE_LABELS), value="each face", label="Apply to", elem_id="mode")
                upscale = gr.Dropdown(
                    [(UPSCALE_LABELS[name], name) for name in UPSCALE_CHOICES],
                    value="none",
                    label="Upscale the face",
                    info="super-resolution of each edited face before it is pasted back: sharper large "
                    "faces, more CPU time",
                    elem_id="upscale",
                )
                run_button = gr.Button("Transform", variant="primary", elem_id="run")
        message = gr.Markdown(elem_id="message")
        with gr.Row(equal_height=True):
            before = _image_output(gr, "Before (faces found are marked)", "before")
            after = _image_output(gr, "After (download with the button on the image)", "after")
        table = gr.Dataframe(
            headers=list(FACE_TABLE_COLUMNS),
            label="Faces found",
            interactive=False,
            elem_id="faces",
        )
        handler = functools.partial(
            _on_transform,
            names=tuple(names),
            translator=translator,
            detector=detector,
            max_pixels=settings.max_pixels,
            takes_reference=takes_reference,
        )
        # The API's inputs follow the controls: (photo, [reference photo: makeup models], *conditions in
        # describe() order, strength, mode, upscale).
        run_button.click(
            handler,
            inputs=[upload, *references, *controls, mode, upscale],
            outputs=[before, after, table, message],
            concurrency_limit=settings.concurrency,
            api_name="transform",
        )
        _video_section(gr, translator, detector, names, controls, settings)
    blocks.queue(max_size=settings.max_queue, default_concurrency_limit=settings.concurrency)
    return blocks


def _video_section(
    gr: Any,
    translator: Any,
    detector: Any,
    names: Sequence[str],
    controls: Sequence[Any],
    settings: ServeSettings,
) -> None:
    """A closed "Video" section: a short upload through the tracked, stabilised video pipeline, using the
    photo section's condition controls (the same change for every frame)."""
    from ..video.formats import VIDEO_SUFFIXES
    from .video import MAX_VIDEO_SECONDS

    with gr.Accordion(f"Video (up to {MAX_VIDEO_SECONDS:g} s at 720p)", open=False):
        video_upload = gr.File(
            label="Video",
            file_count="single",
            file_types=list(VIDEO_SUFFIXES),
            type="filepath",
            elem_id="video",
        )
        video_button = gr.Button("Transform video", elem_id="run-video")
        video_message = gr.Markdown(elem_id="video-message")
        video_after = gr.Video(label="After", elem_id="video-after", interactive=False)
    video_button.click(
        functools.partial(_on_video, names=tuple(names), translator=translator, detector=detector),
        inputs=[video_upload, *controls],
        outputs=[video_after, video_message],
        concurrency_limit=settings.concurrency,
        api_name="transform_video",
    )


def _on_video(upload: str | None, *values: Any, names: Sequence[str], translator: Any, detector: Any) -> Any:
    """The video button's handler: ``values`` are the condition controls' values."""
    from .video import process_video

    return process_video(
        upload, translator=translator, detector=detector, request=condition_request(names, list(values))
    )


def condition_controls(gr: Any, options: Sequence[dict[str, Any]]) -> tuple[list[str], list[Any]]:
    """One input per accepted condition option (``ConditionSpec.describe()`` entries), in their order.

    ``direction`` becomes a radio, ``strength`` a 0–1 slider, other numbers (``target_age``) a slider over
    their range starting at its middle, and each ``attributes.NAME`` a dropdown whose first choice is
    :data:`KEEP` (leave that attribute unchanged).

    Args:
        gr: the imported ``gradio`` module.
        options: the model's ``conditions.describe()``.

    Returns:
        The option names and their components, in the same order.
    """
    names, controls = [], []
    for option in options:
        name = option["name"]
        if name == "strength":
            control = gr.Slider(
                0.0,
                1.0,
                value=1.0,
                step=0.05,
                label="Strength",
                info="0 keeps the photo, 1 makes the full change",
                elem_id="strength",
            )
        elif option["type"] == "number":
            low, high = float(option["min"]), float(option["max"])
            control = gr.Slider(
                low,
                high,
                value=min(max(round((low + high) / 2), low), high),
                step=1,
                label=_label(name),
                info=f"{low:g} to {high:g} {option.get('help', '')}".strip(),
                elem_id=_css_id(name),
            )
        elif name.startswith("attributes."):
            attribute = name.removeprefix("attributes.")
            choices = [(f"{KEEP} (unchanged)", KEEP), *((value, value) for value in option["choices"])]
            control = gr.Dropdown(
                choices, value=KEEP, label=_label(name), elem_id=f"attribute-{_css_id(attribute)}"
            )
        else:
            choices = list(option["choices"])
            control = gr.Radio(choices, value=choices[0], label=_label(name), elem_id=_css_id(name))
        names.append(name)
        controls.append(control)
    return names, controls


def condition_request(names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """Turn the controls' values into ``process``'s condition keywords (attributes left at ``keep`` dropped).

    Args:
        names: the option names from :func:`condition_controls`.
        values: the controls' values, in the same order.

    Returns:
        ``{"direction", "target_age", "attributes", "strength"}`` with ``None`` for options the page lacks.
    """
    request: dict[str, Any] = {"direction": None, "target_age": None, "attributes": {}, "strength": None}
    for name, value in zip(names, values, strict=True):
        if name.startswith("attributes."):
            if value not in (None, KEEP):
                request["attributes"][name.removeprefix("attributes.")] = value
        elif name in ("target_age", "strength"):
            request[name] = None if value is None else float(value)
        else:
            request[name] = value
    return request


def _label(name: str) -> str:
    """``"target_age"`` → ``"Target age"``, ``"attributes.hair"`` → ``"Hair"``."""
    return name.removeprefix("attributes.").replace("_", " ").capitalize()


def _css_id(name: str) -> str:
    """An attribute name made safe for an HTML id (and a CSS selector)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _image_output(gr: Any, label: str, elem_id: str) -> Any:
    """A read-only image panel written as PNG (lossless) with a download button."""
    return gr.Image(
        label=label,
        type="pil",
        format="png",
        interactive=False,
        buttons=["download", "fullscreen"],
        elem_id=elem_id,
    )


def _on_transform(
    upload: str | None,
    *values: Any,
    names: Sequence[str],
    translator: Any,
    detector: Any,
    max_pixels: int,
    takes_reference: bool = False,
) -> ProcessResult:
    """The button's handler: ``values`` are the reference upload (makeup models), the condition controls'
    values, the mode label, the upscaler."""
    reference = values[0] if takes_reference else None
    *condition_values, mode_label, upscale = values[1:] if takes_reference else values
    return process(
        upload,
        reference=reference,
        translator=translator,
        detector=detector,
        mode=MODE_LABELS.get(mode_label, mode_label),
        max_pixels=max_pixels,
        upscale=upscale,
        **condition_request(names, condition_values),
    )


def launch(blocks: Any, settings: ServeSettings, block: bool = True) -> str:
    """Start serving ``blocks`` with the safe settings.

    Args:
        blocks: the app from :func:`build_app`.
        settings: host, port and upload limit.
        block: keep serving until interrupted; ``False`` returns once the server is up (tests).

    Returns:
        The local URL of the page.
    """
    import_gradio()
    _, local_url, _ = blocks.launch(
        server_name=settings.host,
        server_port=settings.port,
        share=False,
        max_file_size=settings.max_upload_bytes,
        show_error=False,
        prevent_thread_lock=True,
        inbrowser=False,
        quiet=True,
        ssr_mode=False,
        mcp_server=False,
        enable_monitoring=False,
        footer_links=[],
    )
    if block:
        blocks.block_thread()  # returns after Ctrl-C, with the server closed and its temp files deleted
    return local_url


def serve(
    model: str,
    settings: ServeSettings | None = None,
    announce: Callable[[str], None] | None = None,
    backend: str = "torch",
) -> None:
    """Load ``model`` and serve the page until interrupted (what ``ageshift serve`` runs).

    Args:
        model: an exported model folder or ``"identity"``.
        settings: how to serve; defaults to ``ServeSettings()`` (127.0.0.1, 20 MB uploads).
        announce: called with the page's URL once it is up (the CLI prints it).
        backend: ``torch``, or ``onnxruntime`` / ``onnxruntime-int8`` for the folder's ONNX graphs (docs/onnx.md).
    """
    from ..onnx.backends import load_with_backend

    settings = settings or ServeSettings()
    import_gradio()  # fail on a missing extra before the slower model load
    translator = load_with_backend(model, backend)
    blocks = build_app(translator, settings, model_name=str(model))
    url = launch(blocks, settings, block=False)
    if announce is not None:
        announce(url)
    blocks.block_thread()
