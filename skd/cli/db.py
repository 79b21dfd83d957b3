"""`skd db start|stop|status|reset`: the local graph server (ArcadeDB or Neo4j), or a check of the configured one."""

from __future__ import annotations

import typer

from skd.cli.common import console, get_settings, handle_errors, open_store, print_json
from skd.core.settings import Settings

app = typer.Typer(
    help="Manage the graph database: a local ArcadeDB or Neo4j server (SKD_GRAPH_BACKEND) unless SKD_GRAPH_URI is set.",
    no_args_is_help=True,
)

BACKEND_HELP = "local server: arcadedb or neo4j (default: SKD_GRAPH_BACKEND)"


def _settings(backend: str | None) -> Settings:
    s = get_settings()
    return s.model_copy(update={"graph_backend": backend}) if backend else s


@app.command()
@handle_errors
def start(backend: str | None = typer.Option(None, "--backend", help=BACKEND_HELP)) -> None:
    """Start the local server (reused if already running) and create the schema."""
    from skd.graph_schema.connect import embedded_server

    s = _settings(backend)
    if not s.embedded:
        console.print(f"SKD_GRAPH_URI is set ({s.graph_uri}): nothing to start; creating its schema instead")
    else:
        server = embedded_server(s)
        with console.status(f"starting {s.graph_backend}"):
            info = server.start()
        console.print(
            f"{s.graph_backend} running: pid {info.pid}, {info.bolt_uri}, user {info.user}, data in {server.root}"
        )
    with open_store(s, ensure_schema=True) as store:
        console.print(f"schema ready on {store.dialect.name} {store.dialect.version}")


@app.command()
@handle_errors
def stop(backend: str | None = typer.Option(None, "--backend", help=BACKEND_HELP)) -> None:
    """Stop the local server."""
    from skd.graph_schema.connect import embedded_server

    s = _settings(backend)
    stopped = embedded_server(s).stop()
    console.print(f"{s.graph_backend} stopped" if stopped else f"{s.graph_backend} was not running")


@app.command()
@handle_errors
def status(backend: str | None = typer.Option(None, "--backend", help=BACKEND_HELP)) -> None:
    """Print where the graph is, what it runs and whether it answers, as JSON (exit 1 when it does not)."""
    from skd.graph_schema.connect import embedded_server

    s = _settings(backend)
    if s.embedded:
        server = embedded_server(s)
        info = server.status()
        version = None
        if info is not None:
            with open_store(s) as store:
                version = store.dialect.version
        print_json(
            {
                "backend": s.graph_backend,
                "local": True,
                "running": info is not None,
                "version": version,
                "pid": info.pid if info else None,
                "bolt_uri": info.bolt_uri if info else None,
                "user": info.user if info else None,
                "password_file": str(server.password_path) if info else None,
                "data_dir": str(server.root),
            }
        )
        if info is None:
            raise typer.Exit(1)
    else:
        with open_store(s) as store:
            print_json(
                {
                    "backend": store.dialect.name,
                    "local": False,
                    "version": store.dialect.version,
                    "uri": s.graph_uri,
                    "running": True,
                }
            )


@app.command()
@handle_errors
def reset(yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Delete every event, inference and triple from the graph."""
    if not yes:
        typer.confirm("Delete the whole knowledge graph?", abort=True)
    with open_store() as store:
        store.clear()
    console.print("graph emptied")
