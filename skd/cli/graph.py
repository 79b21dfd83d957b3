"""`skd load`, `skd export`, `skd stats`: moving triples in and out of the graph."""

from __future__ import annotations

import typer

def register(app: typer.Typer) -> None:
    """Add the graph commands to the root app."""
