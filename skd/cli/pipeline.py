"""`skd pipeline`, `skd demo` and `skd bloom-perspective`: the whole idea in one command, and its Bloom view."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from skd.cli.common import console, get_settings, handle_errors, print_json, progress

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from skd.pipeline.runner import PipelineProgress, PipelineResult

STAGE_HELP = "events, inferences, critic, filter, load, student, evaluate"


def _rich_progress() -> PipelineProgress:
    """Progress as the stages go: a line per stage, a live bar inside it."""
    from transformers.utils import logging as hf_logging

    from skd.pipeline.runner import PipelineProgress

    hf_logging.disable_progress_bar()  # per-shard loading bars would drown the stage bars

    class RichProgress(PipelineProgress):
        def __init__(self) -> None:
            self.bar: Progress | None = None
            self.task: TaskID | None = None
            self.title = ""

        def stage_skipped(self, index: int, total: int, stage: str, title: str, record: dict[str, Any]) -> None:
            console.print(f"[dim]{index + 1}/{total} {title}: done earlier with the same config, skipped[/]")

        def stage_started(self, index: int, total: int, stage: str, title: str, resumed: bool) -> None:
            console.print(f"[bold]{index + 1}/{total} {title}[/]" + (" [yellow](resuming)[/]" if resumed else ""))
            self.title = title
            self.bar = progress()
            self.bar.start()
            self.task = self.bar.add_task(title, total=None)

        def update(self, description: str, done: int, total: int | None) -> None:
            if self.bar is not None and self.task is not None:  # both are set in `stage_started`
                for task in self.bar.tasks:
                    if task.id == self.task:
                        task.total = total  # None is a real value here: a step of unknown length
                self.bar.update(self.task, description=f"{self.title}: {description}", completed=done)

        def stage_finished(self, index: int, total: int, stage: str, title: str, record: dict[str, Any]) -> None:
            from skd.pipeline.report import stage_summary

            if self.bar is not None:
                self.bar.stop()
                self.bar = None
            console.print(f"  [green]done[/] in {record['seconds']:.1f} s: {stage_summary(stage, record['counts'])}")

    return RichProgress()


def _show(result: PipelineResult, as_json: bool) -> None:
    if as_json:
        print_json(result.report)
    else:
        typer.echo(result.markdown)
    console.print(f"report: {result.report_files[1]} and {result.report_files[0].name}")


def _example_event(run_dir: Path) -> str:
    """An event that the demo put in the graph, for the query to try."""
    import json

    accepted = run_dir / "accepted.jsonl"
    if accepted.exists():
        with accepted.open(encoding="utf-8") as f:
            for line in f:
                try:
                    return str(json.loads(line)["head"])
                except (ValueError, KeyError):
                    continue
    return "PersonX adopts a puppy"


def try_query(event: str) -> str:
    """A GraphQL query showing an event's stored inferences and the student's live ones."""
    escaped = event.replace("\\", "\\\\").replace('"', '\\"')
    return (
        '{ complete(event: "' + escaped + '", relations: [xWant, xReact, xIntent], n: 2) '
        "{ event inGraph inferences { relation text score origin } live { student critic } } }"
    )


def print_try_it(url: str, query: str) -> None:
    """How to try the service: the query for GraphiQL and the same as a curl command, printed to copy as
    they are (escaped, since rich takes `[xWant, ...]` for markup and drops it; not wrapped)."""
    body = json.dumps({"query": query})
    console.print(
        f"\n[bold]Try it[/]: open {url} (GraphiQL) and run\n\n  {escape(query)}\n\nor\n\n"
        f"  curl -s {url} -H 'content-type: application/json' -d {escape(shlex.quote(body))}\n",
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add `pipeline`, `demo` and `bloom-perspective` to the root app."""

    @app.command()
    @handle_errors
    def pipeline(
        config: Path = typer.Argument(..., help="pipeline config (TOML); see README, 'Pipeline and demo'"),
        run: Path | None = typer.Option(None, "--run", help="run folder (default: run.dir in the config)"),
        from_stage: str | None = typer.Option(None, "--from", help=f"re-run from this stage on ({STAGE_HELP})"),
        until: str | None = typer.Option(None, help="stop after this stage"),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON instead of Markdown"),
    ) -> None:
        """Generate, critique, load, distil and evaluate; stages already done with the same config are skipped."""
        from skd.pipeline.runner import run_pipeline

        result = run_pipeline(
            config,
            settings=get_settings(),
            progress=_rich_progress(),
            run_dir=run,
            from_stage=from_stage,
            until_stage=until,
        )
        _show(result, as_json)

    @app.command()
    @handle_errors
    def demo(
        run: Path | None = typer.Option(None, "--run", help="run folder (default: <SKD_DATA_DIR>/runs/demo)"),
        serve: bool = typer.Option(True, "--serve/--no-serve", help="start the GraphQL service afterwards"),
        host: str | None = typer.Option(None, help="bind address (default: SKD_SERVICE_HOST)"),
        port: int | None = typer.Option(None, help="port (default: SKD_SERVICE_PORT)"),
        from_stage: str | None = typer.Option(None, "--from", help=f"re-run from this stage on ({STAGE_HELP})"),
    ) -> None:
        """The whole idea on this machine, offline: SmolLM2 teacher, MiniLM critic, embedded graph, student, service."""
        from skd.pipeline.runner import demo_config, run_pipeline

        console.print(
            "[bold]skd demo[/]: a small Symbolic Knowledge Distillation run with the bundled models "
            f"(config {demo_config()})"
        )
        result = run_pipeline(
            demo_config(), settings=get_settings(), progress=_rich_progress(), run_dir=run, from_stage=from_stage
        )
        _show(result, as_json=False)
        critic = result.report["counts"].get("critic", {})
        critic_path = result.run_dir / "critic" / "model" if critic.get("source") != "existing" else None
        overrides = {
            k: v
            for k, v in {
                "service_host": host,
                "service_port": port,
                "student_path": result.run_dir / "student",
                "critic_path": critic_path,
            }.items()
            if v is not None
        }
        settings = get_settings().model_copy(update=overrides)
        url = f"http://{settings.service_host}:{settings.service_port}/graphql"
        print_try_it(url, try_query(_example_event(result.run_dir)))
        if not serve:
            console.print(
                "(--no-serve: start it later with "
                f"`skd serve --student {result.run_dir / 'student'}"
                + (f" --critic {critic_path}`)" if critic_path else "`)")
            )
            return
        import uvicorn

        from skd.service.app import create_app

        console.print(f"serving on {url} (Ctrl-C to stop)")
        uvicorn.run(create_app(settings), host=settings.service_host, port=settings.service_port, log_level="info")

    @app.command("bloom-perspective")
    @handle_errors
    def bloom_perspective(
        out: Path | None = typer.Option(None, "--out", help="write here (default: print to stdout)"),
    ) -> None:
        """The Neo4j Bloom perspective for the graph, generated from the relation catalogue."""
        from skd.graph_schema.bloom import perspective_json

        text = perspective_json()
        if out is None:
            typer.echo(text, nl=False)
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}; import it in Bloom: perspective drawer -> Import")
