"""The Typer applications the command modules attach to. No model logic lives in the CLI."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="ageshift",
    help="Make faces (and pets) older or younger with GANs: prepare data, train, translate, measure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
prepare_app = typer.Typer(
    help="Prepare training data (UTKFace, synthetic faces, your own photos).", no_args_is_help=True
)
app.add_typer(prepare_app, name="prepare")
