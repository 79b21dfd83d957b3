"""What every `skd` command shares: the console, error rendering, progress bars and the graph store."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache, wraps
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from skd.core.errors import SkdError
from skd.core.settings import Settings

if TYPE_CHECKING:
    from skd.graph_schema.store import GraphStore

console = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once from the environment; only the CLI reads them, and it
    passes them to every library call."""
    return Settings()


def print_error(message: str) -> None:
    """One line on standard error, however long (no wrapping), the message taken literally (no markup)."""
    console.print(Text.assemble(("error: ", "bold red"), " ".join(message.split())), soft_wrap=True)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn an SkdError into a one-line red message and its exit code; nothing else is caught."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SkdError as e:
            print_error(str(e))
            raise typer.Exit(e.exit_code) from e

    return wrapper


def progress() -> Progress:
    """A rich progress bar with counts, rate-free elapsed and remaining time, on stderr."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


@contextmanager
def open_store(settings: Settings | None = None, ensure_schema: bool | None = None) -> Iterator[GraphStore]:
    """The graph store for this command: the configured Neo4j, or the embedded ArcadeDB (started if needed)."""
    from skd.graph_schema.connect import connect

    with console.status("connecting to the graph"):
        store = connect(settings or get_settings(), ensure_schema=ensure_schema)
    try:
        yield store
    finally:
        store.close()
