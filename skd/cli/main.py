"""`skd`: the one command-line entry point; each group of subcommands lives in its own module.

Every failure ends as one line on standard error and a non-zero exit code: the project's own errors
with theirs (`SkdError.exit_code`), a file the system refused with 1, anything unexpected with 70
(the traceback only with `--verbose`).
"""

from __future__ import annotations

import logging
import sys

import typer

from skd import __version__
from skd.cli import critic, db, generate, graph, lookup, pipeline, serve, student
from skd.cli.common import console, print_error

#: the exit code of a failure that is not one of ours (BSD's EX_SOFTWARE)
UNEXPECTED = 70

app = typer.Typer(
    name="skd",
    help="Symbolic Knowledge Distillation: generate, critique, load, distil, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_verbose = False


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"skd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log debug messages; show tracebacks"),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    global _verbose
    _verbose = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


app.add_typer(db.app, name="db")
graph.register(app)
lookup.register(app)
app.add_typer(generate.app, name="generate")
app.add_typer(critic.app, name="critic")
app.add_typer(student.app, name="student")
serve.register(app)
pipeline.register(app)


def main() -> None:
    """Run `skd`; no failure leaves as a raw traceback."""
    try:
        app()
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]")
        sys.exit(130)
    except OSError as e:
        if _verbose:
            raise
        where = f": {e.filename}" if e.filename else ""
        print_error(f"{e.strerror or e}{where}")
        sys.exit(1)
    except Exception as e:
        if _verbose:
            raise
        print_error(f"unexpected {type(e).__name__}: {e} (run with --verbose for the traceback)")
        sys.exit(UNEXPECTED)


if __name__ == "__main__":
    main()
