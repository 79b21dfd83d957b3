"""`skd db start|stop|status|reset`: the embedded ArcadeDB server, or a check of the configured Neo4j."""

from __future__ import annotations

import typer

from skd.cli.common import console, get_settings, handle_errors, open_store, print_json

app = typer.Typer(
    help="Manage the graph database (the embedded ArcadeDB unless SKD_GRAPH_URI is set).", no_args_is_help=True
)


@app.command()
@handle_errors
def start() -> None:
    """Start the embedded ArcadeDB server (reused if already running) and create the schema."""
    from skd.graph_schema.connect import embedded_server

    s = get_settings()
    if not s.embedded:
        console.print(f"SKD_GRAPH_URI is set ({s.graph_uri}): nothing to start; checking it instead")
    else:
        with console.status("starting ArcadeDB"):
            info = embedded_server(s).start()
        console.print(f"ArcadeDB running: pid {info.pid}, {info.bolt_uri}, data in {s.arcadedb_dir}")
    with open_store() as store:
        store.ensure_schema()


@app.command()
@handle_errors
def stop() -> None:
    """Stop the embedded ArcadeDB server."""
    from skd.graph_schema.connect import embedded_server

    stopped = embedded_server(get_settings()).stop()
    console.print("ArcadeDB stopped" if stopped else "ArcadeDB was not running")


@app.command()
@handle_errors
def status() -> None:
    """Print where the graph is and whether it answers, as JSON."""
    from skd.graph_schema.connect import embedded_server

    s = get_settings()
    if s.embedded:
        info = embedded_server(s).status()
        print_json(
            {
                "backend": "arcadedb-embedded",
                "running": info is not None,
                "pid": info.pid if info else None,
                "bolt_uri": info.bolt_uri if info else None,
                "data_dir": str(s.arcadedb_dir),
            }
        )
        if info is None:
            raise typer.Exit(1)
    else:
        with open_store() as store:
            print_json({"backend": store.dialect.name, "uri": s.graph_uri, "running": True})


@app.command()
@handle_errors
def reset(yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Delete every event, inference and triple from the graph."""
    if not yes:
        typer.confirm("Delete the whole knowledge graph?", abort=True)
    with open_store() as store:
        store.clear()
    console.print("graph emptied")
