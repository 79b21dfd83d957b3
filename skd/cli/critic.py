"""`skd critic ...`: thin commands over the library (filled in by the critic work)."""

from __future__ import annotations

import typer

app = typer.Typer(help="critic commands", no_args_is_help=True)
