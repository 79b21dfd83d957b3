"""`skd student ...`: thin commands over the library (filled in by the student work)."""

from __future__ import annotations

import typer

app = typer.Typer(help="student commands", no_args_is_help=True)
