"""`skd serve`: run the GraphQL service with uvicorn on the configured (or embedded) graph."""

from __future__ import annotations

from pathlib import Path

import typer

from skd.cli.common import console, get_settings, handle_errors


def register(app: typer.Typer) -> None:
    """Add the `serve` command to the root app."""

    @app.command()
    @handle_errors
    def serve(
        host: str | None = typer.Option(None, help="bind address (default: SKD_SERVICE_HOST)"),
        port: int | None = typer.Option(None, help="port (default: SKD_SERVICE_PORT)"),
        student: Path | None = typer.Option(None, help="student folder (default: SKD_STUDENT_PATH)"),
        critic: Path | None = typer.Option(None, help="critic folder (default: SKD_CRITIC_PATH)"),
    ) -> None:
        """Serve GraphQL at /graphql (GraphiQL in a browser), /healthz, /readyz and /metrics."""
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
        uvicorn.run(
            create_app(settings),
            host=settings.service_host,
            port=settings.service_port,
            log_level="info",
            access_log=False,
        )
