"""`skd serve`: run the GraphQL service with uvicorn on the configured (or embedded) graph."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from skd.cli.common import console, get_settings, handle_errors

if TYPE_CHECKING:
    from fastapi import FastAPI


def register(app: typer.Typer) -> None:
    """Add the `serve` command to the root app."""

    @app.command()
    @handle_errors
    def serve(
        host: str | None = typer.Option(None, help="bind address (default: SKD_SERVICE_HOST)"),
        port: int | None = typer.Option(None, help="port (default: SKD_SERVICE_PORT)"),
        student: Path | None = typer.Option(None, help="student folder (default: SKD_STUDENT_PATH)"),
        critic: Path | None = typer.Option(None, help="critic folder (default: SKD_CRITIC_PATH)"),
        workers: int = typer.Option(
            1, min=1, help="worker processes (each loads its own models and counts its own rate limits)"
        ),
    ) -> None:
        """Serve GraphQL at /graphql (GraphiQL in a browser), /healthz, /readyz and /metrics."""
        import os

        import uvicorn

        from skd.service.app import create_app

        overrides = {
            k: v
            for k, v in {
                "service_host": host,
                "service_port": port,
                "student_path": student,
                "critic_path": critic,
            }.items()
            if v is not None
        }
        settings = get_settings().model_copy(update=overrides)
        console.print(f"serving on http://{settings.service_host}:{settings.service_port}/graphql")
        if workers == 1:
            uvicorn.run(
                create_app(settings),
                host=settings.service_host,
                port=settings.service_port,
                log_level="info",
                access_log=False,
            )
            return
        if settings.embedded:
            # start the local graph once, here: every worker then finds it running and reuses it
            from skd.graph_schema.connect import connect

            connect(settings).close()
        # uvicorn starts each worker from an import string: the options reach them as settings variables
        os.environ.update({f"SKD_{k.upper()}": str(v) for k, v in overrides.items()})
        uvicorn.run(
            "skd.cli.serve:app_from_environment",
            factory=True,
            workers=workers,
            host=settings.service_host,
            port=settings.service_port,
            log_level="info",
            access_log=False,
        )


def app_from_environment() -> FastAPI:
    """The app of one `skd serve --workers N` worker process, configured from the environment."""
    from skd.service.app import create_app

    get_settings.cache_clear()
    return create_app(get_settings())
