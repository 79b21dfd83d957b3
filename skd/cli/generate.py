"""`skd generate ...`: thin commands over the library (filled in by the generate work)."""

from __future__ import annotations

import typer

app = typer.Typer(help="generate commands", no_args_is_help=True)
