"""`skd load`, `skd export`, `skd stats`: moving triples in and out of the graph."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from skd.cli.common import console, get_settings, handle_errors, open_store, print_json, progress
from skd.core.errors import InputError
from skd.graph_schema.records import SOURCES, check_sources


class ExportFormat(StrEnum):
    tsv = "tsv"
    jsonl = "jsonl"
    neo4j_import = "neo4j-import"


@handle_errors
def load(
    paths: list[Path] = typer.Argument(..., help="ATOMIC 2020 TSV, our JSONL, folders of them, or run folders"),
    source: str = typer.Option(
        None,
        help="provenance source for rows without one: " + ", ".join(SOURCES) + " (default: atomic2020 for TSV, "
        "the row's own for JSONL)",
    ),
    strict: bool = typer.Option(False, "--strict", help="stop at the first bad line, before writing anything"),
    restart: bool = typer.Option(False, "--restart", help="ignore the checkpoint of an interrupted load"),
    everything: bool = typer.Option(
        False, "--all", help="for a run folder: every teacher triple, critic rejects included (default: accepted)"
    ),
    bulk: bool = typer.Option(
        False, "--bulk", help="first load into the empty local Neo4j with neo4j-admin's importer (much faster)"
    ),
) -> None:
    """Load triples into the graph; bad lines are reported and skipped. Resumes an interrupted load.

    A run folder loads what its critic accepted, with their scores; --all loads every teacher triple."""
    s = get_settings()
    if source is not None:
        check_sources([source])
    if bulk:
        from skd.ingest.bulk import bulk_load

        if source is not None or restart:
            raise InputError("--bulk takes neither --source nor --restart: it reads each file whole, once")
        with progress() as bar:
            task = bar.add_task("bulk load", total=None)
            bulk_report = bulk_load(
                s,
                paths,
                everything=everything,
                strict=strict,
                progress=lambda what, done, total: bar.update(task, description=what, completed=done, total=total),
            )
        _skipped([str(e) for e in bulk_report.errors])
        print_json(bulk_report.to_json())
        return
    from skd.ingest.load import load_path

    reports = []
    with open_store(ensure_schema=True) as store, progress() as bar:
        task = bar.add_task("loading", total=None)

        def on_progress(file: Path, done: int, total: int, triples: int) -> None:
            bar.update(task, description=f"{file.name}: {triples:,} triples", completed=done, total=total)

        for path in paths:
            reports.append(
                load_path(
                    store,
                    path,
                    checkpoints=s.data_dir / "load-checkpoints",
                    source=source,
                    strict=strict,
                    resume=not restart,
                    progress=on_progress,
                    everything=everything,
                )
            )
    report = reports[0]
    for more in reports[1:]:
        report.files += more.files
        report.triples += more.triples
        report.resumed_from.update(more.resumed_from)
        report.errors += more.errors
    _skipped([str(e) for e in report.errors])
    print_json(report.to_json())


def _skipped(errors: list[str]) -> None:
    for err in errors[:50]:
        console.print(f"[yellow]skipped[/] {err}")
    if len(errors) > 50:
        console.print(f"[yellow]... and {len(errors) - 50} more bad lines[/]")


@handle_errors
def export(
    fmt: ExportFormat = typer.Option(
        ExportFormat.jsonl, "--format", "-f", help="tsv (ATOMIC layout), jsonl, or neo4j-import (a folder of CSVs)"
    ),
    min_score: float = typer.Option(None, "--min-score", help="only triples with a critic score at least this"),
    labelled: bool = typer.Option(False, "--labelled", help="only triples with human labels (critic training data)"),
    out: Path = typer.Option(
        None, "--out", "-o", help="file to write (default: standard output); a folder for neo4j-import"
    ),
) -> None:
    """Write the graph's triples as ATOMIC TSV, as JSONL with scores, provenance and human labels, or as the
    CSV files `neo4j-admin database import full` reads (for a first load of a Neo4j server of your own)."""
    from skd.core.files import atomic_write
    from skd.graph_schema.triples_io import write_jsonl, write_tsv

    if fmt is ExportFormat.neo4j_import:
        if out is None:
            raise InputError("--format neo4j-import writes a folder: give it with --out DIR")
        if out.exists() and any(out.iterdir()):
            raise InputError(f"{out} is not empty: give a new or empty folder")
        from skd.graph_schema.neo4j_import import ImportBuilder

        builder = ImportBuilder()
        with open_store() as store:
            n = builder.add_all(store.export(min_score=min_score, labelled=labelled))
        files = builder.write(out)
        command = "neo4j-admin " + " ".join(f"'{a}'" if " " in a else a for a in files.admin_args("neo4j"))
        (out / "import-command.txt").write_text(command.replace("\x1f", "$'\\x1f'") + "\n", encoding="utf-8")
        console.print(
            f"exported {n:,} triples as {len(files.relationships)} relationship files; see {out / 'import-command.txt'}"
        )
        return
    writer = write_tsv if fmt is ExportFormat.tsv else write_jsonl
    if out is not None and not out.parent.is_dir():
        raise InputError(f"{out.parent}: no such folder")
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
