"""`skd generate events|inferences`: thin commands over `ingest.events` and `ingest.inferences`."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from skd.cli.common import console, get_settings, handle_errors, open_store, print_json, progress
from skd.core.settings import Settings

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from skd.ingest.events import EventsSummary
    from skd.ingest.inferences import InferencesSummary
    from skd.ingest.run import RunStats
    from skd.models.teacher import Teacher

app = typer.Typer(
    help="Generate a commonsense corpus with a teacher model (events, then inferences).", no_args_is_help=True
)

TEACHER_HELP = (
    "'smollm2' (default: SKD_TEACHER_MODEL), a Hugging Face id or model folder, 'openai:<model>', or "
    "'openai-batch:<model>' (the Batch API: half price, one batch job per --batch)"
)


def _settings(max_requests: int | None, max_tokens: int | None, max_cost: float | None) -> Settings:
    caps = {
        k: v
        for k, v in {
            "teacher_max_requests": max_requests,
            "teacher_max_tokens": max_tokens,
            "teacher_max_cost": max_cost,
        }.items()
        if v is not None
    }
    return get_settings().model_copy(update=caps)


def _teacher(spec: str | None, settings: Settings, fallback: str | None = None) -> Teacher:
    from skd.models.teacher import make_teacher

    chosen = spec or fallback or settings.teacher_model
    with console.status(f"loading teacher {chosen}"):
        return make_teacher(chosen, settings)


class _Bar:
    """Renders RunStats on a rich progress bar: the stage's main count plus prompts, accepted, rejected."""

    def __init__(self, bar: Progress, label: str) -> None:
        self.bar, self.label = bar, label
        self.task: TaskID | None = None

    def __call__(self, s: RunStats) -> None:
        text = (
            f"{self.label}  prompts {s.prompts}  accepted {s.accepted}  rejected {s.rejected}"
            f"  duplicates {s.duplicates}  cached {s.cached}"
        )
        if self.task is None:
            self.task = self.bar.add_task(text, total=s.total)
        self.bar.update(self.task, completed=min(s.done, s.total), description=text)


def _render(summary: EventsSummary | InferencesSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.to_json())
        return
    data = summary.to_json()
    status = "complete" if data["complete"] else f"stopped: {data['stopped']}"
    console.print(f"[bold]{data['run_id']}[/] ({data['run_dir']}): {status}")
    stats, usage = data["stats"], data["usage"]
    console.print(
        f"prompts {stats['prompts']}, accepted {stats['accepted']}, rejected {stats['rejected']} "
        f"{stats['reasons'] or ''}, duplicates {stats['duplicates']}, answered from cache {stats['cached']}"
    )
    console.print(
        f"teacher usage: {usage['requests']} requests, {usage['tokens']} tokens, estimated cost ${usage['cost']:.4f}"
    )


@app.command("events")
@handle_errors
def events_cmd(
    run: Path = typer.Option(..., "--run", help="run folder (created, or resumed if it exists)"),
    n: int = typer.Option(..., "--n", help="number of events the run should hold"),
    teacher: str | None = typer.Option(None, "--teacher", help=TEACHER_HELP),
    seed_file: Path | None = typer.Option(None, "--seed-file", help="your own seed events (.txt, .tsv or .jsonl)"),
    examples: int = typer.Option(10, "--examples", help="seed events shown in each prompt"),
    batch: int = typer.Option(32, "--batch", help="prompts per batch (the unit of resume)"),
    samples: int = typer.Option(1, "--samples", help="samples per prompt"),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", help="tokens per sample"),
    temperature: float = typer.Option(0.9, "--temperature"),
    top_p: float = typer.Option(0.95, "--top-p"),
    seed: int = typer.Option(0, "--seed", help="chooses the seed events of each prompt"),
    max_prompts: int | None = typer.Option(None, "--max-prompts", help="give up after this many prompts (20 n)"),
    graph: bool = typer.Option(True, "--graph/--no-graph", help="also drop events already in the graph"),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="answer repeated requests from the disk cache"),
    max_requests: int | None = typer.Option(None, "--max-requests", help="cap on teacher requests"),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="cap on teacher tokens (in + out)"),
    max_cost: float | None = typer.Option(None, "--max-cost", help="cap on estimated cost in dollars"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    shard: str | None = typer.Option(
        None,
        "--shard",
        help="I/N: this worker's share of the batches (its own --run folder; N workers, one run: give all N "
        "folders to `skd generate inferences --events`)",
    ),
    shard_margin: float = typer.Option(
        0.25, "--shard-margin", help="with --shard: aim at n/N times 1 + this, for the duplicates between shards"
    ),
) -> None:
    """Generate new events from few-shot lists of seed events (stage one)."""
    from skd.ingest.events import generate_events
    from skd.ingest.run import Shard

    part = Shard.parse(shard) if shard else None
    settings = _settings(max_requests, max_tokens, max_cost)
    model = _teacher(teacher, settings)
    with open_store() if graph else nullcontext() as store, progress() as bar:
        summary = generate_events(
            model,
            run,
            n,
            seed_file,
            store,
            examples_per_prompt=examples,
            prompts_per_batch=batch,
            samples_per_prompt=samples,
            max_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            max_prompts=max_prompts,
            cache=settings.request_cache_path if cache else None,
            progress=_Bar(bar, "events"),
            shard=part,
            shard_margin=shard_margin,
        )
    _render(summary, as_json)


@app.command("inferences")
@handle_errors
def inferences_cmd(
    run: Path = typer.Option(..., "--run", help="run folder holding events (from `skd generate events`)"),
    relations: str = typer.Option("paper", "--relations", help="comma-separated names, 'paper' (7) or 'all' (23)"),
    per_pair: int = typer.Option(5, "--per-pair", help="samples per (event, relation) pair"),
    teacher: str | None = typer.Option(None, "--teacher", help=TEACHER_HELP + "; default: the run's events teacher"),
    events: list[Path] | None = typer.Option(
        None,
        "--events",
        help="use these events instead: a .txt/.tsv/.jsonl file or an events run folder; repeat it with the N "
        "folders of a sharded events run (merged: the unsplit run's events)",
    ),
    max_events: int | None = typer.Option(None, "--max-events", help="only the first N events"),
    examples: int = typer.Option(5, "--examples", help="examples of the relation in each prompt"),
    batch: int = typer.Option(64, "--batch", help="pairs per batch (the unit of resume)"),
    max_new_tokens: int = typer.Option(24, "--max-new-tokens", help="tokens per sample"),
    temperature: float = typer.Option(0.9, "--temperature"),
    top_p: float = typer.Option(0.95, "--top-p"),
    seed: int = typer.Option(0, "--seed", help="chooses the examples of each prompt"),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="answer repeated requests from the disk cache"),
    max_requests: int | None = typer.Option(None, "--max-requests", help="cap on teacher requests"),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="cap on teacher tokens (in + out)"),
    max_cost: float | None = typer.Option(None, "--max-cost", help="cap on estimated cost in dollars"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    shard: str | None = typer.Option(
        None, "--shard", help="I/N: this worker's share of the pairs (its own --run folder; N workers, one run)"
    ),
) -> None:
    """Generate inferences for the run's events, one few-shot prompt per relation (stage two)."""
    from skd.ingest.inferences import generate_inferences
    from skd.ingest.run import Shard, run_teacher

    part = Shard.parse(shard) if shard else None

    settings = _settings(max_requests, max_tokens, max_cost)
    model = _teacher(teacher, settings, fallback=run_teacher(run))
    with progress() as bar:
        summary = generate_inferences(
            model,
            run,
            relations,
            per_pair,
            events=(events[0] if len(events) == 1 else events) if events else None,
            max_events=max_events,
            examples_per_prompt=examples,
            batch_pairs=batch,
            max_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            cache=settings.request_cache_path if cache else None,
            progress=_Bar(bar, "pairs"),
            shard=part,
        )
    _render(summary, as_json)
