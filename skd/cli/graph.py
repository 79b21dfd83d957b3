"""`skd load`, `skd export`, `skd stats`: moving triples in and out of the graph."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from skd.cli.common import console, get_settings, handle_errors, open_store, print_json, progress


class ExportFormat(StrEnum):
    tsv = "tsv"
    jsonl = "jsonl"


@handle_errors
def load(
    path: Path = typer.Argument(..., help="ATOMIC 2020 TSV, our JSONL, or a folder (a run folder's shards)"),
    source: str = typer.Option(
        None, help="provenance source for rows without one (default: atomic2020 for TSV, the row's own for JSONL)"
    ),
    strict: bool = typer.Option(False, "--strict", help="stop at the first bad line, before writing anything"),
    restart: bool = typer.Option(False, "--restart", help="ignore the checkpoint of an interrupted load"),
    everything: bool = typer.Option(
        False, "--all", help="for a run folder: every teacher triple, critic rejects included (default: accepted)"
    ),
) -> None:
    """Load triples into the graph; bad lines are reported and skipped. Resumes an interrupted load.

    A run folder loads what its critic accepted, with their scores; --all loads every teacher triple."""
    from skd.ingest.load import load_path

    s = get_settings()
    with open_store(ensure_schema=True) as store, progress() as bar:
        task = bar.add_task("loading", total=None)

        def on_progress(file: Path, done: int, total: int, triples: int) -> None:
            bar.update(task, description=f"{file.name}: {triples:,} triples", completed=done, total=total)

        report = load_path(
            store,
            path,
            checkpoints=s.data_dir / "load-checkpoints",
            source=source,
            strict=strict,
            resume=not restart,
            progress=on_progress,
            everything=everything,
        )
    for err in report.errors[:50]:
        console.print(f"[yellow]skipped[/] {err}")
    if len(report.errors) > 50:
        console.print(f"[yellow]... and {len(report.errors) - 50} more bad lines[/]")
    print_json(report.to_json())


@handle_errors
def export(
    fmt: ExportFormat = typer.Option(ExportFormat.jsonl, "--format", "-f", help="tsv (ATOMIC layout) or jsonl"),
    min_score: float = typer.Option(None, "--min-score", help="only triples with a critic score at least this"),
    labelled: bool = typer.Option(False, "--labelled", help="only triples with human labels (critic training data)"),
    out: Path = typer.Option(None, "--out", "-o", help="file to write (default: standard output)"),
) -> None:
    """Write the graph's triples as ATOMIC TSV or as JSONL with scores, provenance and human labels."""
    from skd.core.files import atomic_write
    from skd.graph_schema.triples_io import write_jsonl, write_tsv

    writer = write_tsv if fmt is ExportFormat.tsv else write_jsonl
    with open_store() as store:
        triples = store.export(min_score=min_score, labelled=labelled)
        if out is None:
            n = writer(triples, sys.stdout)
        else:
            with atomic_write(out) as f:
                n = writer(triples, f)
    console.print(f"exported {n:,} triples")


@handle_errors
def stats() -> None:
    """Print counts of events, inferences and triples per relation and source, as JSON."""
    with open_store() as store:
        print_json(store.stats())


def register(app: typer.Typer) -> None:
    """Add the graph commands to the root app."""
    app.command()(load)
    app.command()(export)
    app.command()(stats)
