"""`skd query`, `skd search`, `skd complete`: look things up from the shell, without a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from skd.cli.common import console, get_settings, handle_errors, open_store, print_json
from skd.core.errors import InputError

JSON_HELP = "print JSON instead of a table"


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


@handle_errors
def query(
    event: str = typer.Argument(..., help="an event, as stored or typed (case and spacing do not matter)"),
    relation: list[str] = typer.Option(None, "--relation", "-r", help="only this relation (repeatable)"),
    min_score: float | None = typer.Option(None, "--min-score", help="only inferences the critic scored this high"),
    first: int = typer.Option(25, min=1, max=1000, help="at most this many inferences"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """An event's inferences in the graph, best score first (exit 1 when the event is not in the graph)."""
    from skd.graph_schema.relations import parse_relations

    relations = parse_relations(",".join(relation)) if relation else None
    with open_store() as store:
        node = store.event(event)
        edges = store.inferences(event, relations, min_score=min_score, first=first) if node else []
    if as_json:
        print_json(
            {
                "event": node.text if node else event,
                "in_graph": node is not None,
                "inferences": [
                    {"relation": e.relation, "inference": e.tail, "score": e.score, "sources": e.sources,
                     "labels": e.labels}
                    for e in edges
                ],
            }
        )  # fmt: skip
    elif node is not None:
        _table(
            node.text,
            ["relation", "inference", "score", "sources"],
            [[e.relation, e.tail, _score(e.score), ", ".join(e.sources)] for e in edges],
        )
    if node is None:
        console.print(f"{event!r} is not in the graph (try `skd search` or `skd complete`)", markup=False)
        raise typer.Exit(1)


@handle_errors
def search(
    text: str = typer.Argument(..., help="words to look for in event texts (full-text search)"),
    first: int = typer.Option(10, min=1, max=1000, help="at most this many events"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Events whose text matches, best match first."""
    with open_store() as store:
        hits = store.search_events(text, first=first)
        total = store.count_search(text)
    if as_json:
        print_json({"query": text, "total": total, "events": [{"event": h.text, "score": h.score} for h in hits]})
        return
    _table(f"{total:,} events match {text!r}", ["event", "match"], [[h.text, f"{h.score:.2f}"] for h in hits])


@handle_errors
def complete(
    event: str = typer.Argument(..., help="an event, in the graph or not"),
    relation: list[str] = typer.Option(None, "--relation", "-r", help="relation (repeatable; default: the paper's 7)"),
    n: int = typer.Option(1, "--n", min=1, max=10, help="inferences per relation"),
    min_score: float | None = typer.Option(None, "--min-score", help="drop inferences the critic scores lower"),
    live_for_all: bool = typer.Option(
        False, "--live-for-all", help="ask the student for every relation, not only those the graph lacks"
    ),
    student: Path | None = typer.Option(None, help="student folder (default: SKD_STUDENT_PATH)"),
    critic: Path | None = typer.Option(None, help="critic folder (default: SKD_CRITIC_PATH)"),
    as_written: bool = typer.Option(
        False, "--as-written", help="take the event as written; by default an everyday sentence is read as ATOMIC's"
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """What the service's `complete` answers: the graph's inferences, and the student's (critic-scored) for the
    relations the graph lacks, here in one process."""
    import asyncio

    from skd.graph_schema.relations import parse_relations
    from skd.service.app import complete_once

    relations = parse_relations(",".join(relation)) if relation else None
    overrides = {k: v for k, v in {"student_path": student, "critic_path": critic}.items() if v is not None}
    settings = get_settings().model_copy(update=overrides)
    if not event.strip():
        raise InputError("the event is empty")
    with open_store(settings) as store, console.status("completing"):
        result = asyncio.run(
            complete_once(settings, store, event, relations, n, min_score, live_for_all, not as_written)
        )
    rows: list[dict[str, Any]] = [
        {"relation": i.relation, "inference": i.tail, "score": i.score, "origin": i.origin.value,
         "logprob": i.logprob, "sources": i.sources}
        for i in result.inferences
    ]  # fmt: skip
    if as_json:
        print_json(
            {"input": result.input, "event": result.event, "interpretation": result.interpretation,
             "in_graph": result.in_graph, "student": result.student, "critic": result.critic,
             "notice": result.notice, "inferences": rows}
        )  # fmt: skip
        return
    if result.notice:
        console.print(result.notice, style="yellow", markup=False)
    if result.interpretation:
        console.print(f"read as {result.event!r}: {'; '.join(result.interpretation)}", markup=False)
    title = f"{result.event} ({'in the graph' if result.in_graph else 'not in the graph'})"
    _table(
        title,
        ["relation", "inference", "score", "from"],
        [[r["relation"], r["inference"], _score(r["score"]), r["origin"].lower()] for r in rows],
    )


def register(app: typer.Typer) -> None:
    """Add the lookup commands to the root app."""
    app.command()(query)
    app.command()(search)
    app.command()(complete)
