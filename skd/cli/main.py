"""`skd`: the one command-line entry point; each group of subcommands lives in its own module."""

from __future__ import annotations

import logging

import typer

from skd import __version__
from skd.cli import critic, db, generate, graph, pipeline, serve, student

app = typer.Typer(
    name="skd",
    help="Symbolic Knowledge Distillation: generate, critique, load, distil, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="log debug messages")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


app.add_typer(db.app, name="db")
graph.register(app)
app.add_typer(generate.app, name="generate")
app.add_typer(critic.app, name="critic")
app.add_typer(student.app, name="student")
serve.register(app)
pipeline.register(app)
