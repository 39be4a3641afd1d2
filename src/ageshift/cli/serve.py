"""ageshift CLI: ``ageshift serve``, the local web page (a thin shell over ``ageshift.web``)."""

from __future__ import annotations

import typer

from ._app import app
from ._conditions import DETECTOR_HELP
from .onnx import backend_option


@app.command()
def serve(
    model: str = typer.Option(..., "--model", "-m", help="Exported model folder, or 'identity'."),
    host: str = typer.Option(
        "127.0.0.1", help="Interface to bind. Keep 127.0.0.1 unless others on your network should reach it."
    ),
    port: int | None = typer.Option(None, help="TCP port (default: the first free one from 7860)."),
    max_upload_mb: float = typer.Option(20.0, help="Refuse uploads larger than this many megabytes."),
    detector: str = typer.Option("mtcnn", help=DETECTOR_HELP),
    max_queue: int = typer.Option(16, help="Requests allowed to wait; more are turned away."),
    backend: str = backend_option(),
) -> None:
    """Serve a local web page: upload a photo, choose the change the model offers, download the result."""
    from ..web import ServeSettings
    from ..web import serve as serve_page

    settings = ServeSettings(
        host=host, port=port, max_upload_mb=max_upload_mb, detector=detector, max_queue=max_queue
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.secho(
            f"warning: binding to {host}: anyone who can reach this machine on that interface can use the page",
            fg="yellow",
            err=True,
        )
    serve_page(
        model,
        settings,
        announce=lambda url: typer.echo(f"ageshift: serving {model} on {url} (Ctrl-C to stop)", err=True),
        backend=backend,
    )
