"""`skd critic ...`: bootstrap weak labels, train, score, filter and evaluate with the critic (thin commands)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import TaskID
from rich.table import Table

from skd.cli.common import console, get_settings, handle_errors, open_store, print_json, progress
from skd.core.errors import ConfigError, InputError
from skd.core.files import write_json
from skd.models.critic import ProgressFn
from skd.models.critic_labels import NEGATIVES_PER_POSITIVE

if TYPE_CHECKING:
    from skd.ingest.scoring import GraphScoreSummary, ScoreSummary
    from skd.models.critic import Critic

app = typer.Typer(
    help="critic: train an acceptability model, then score and filter triples with it", no_args_is_help=True
)

CRITIC_OPTION = typer.Option(None, "--critic", "-c", help="critic folder (default: SKD_CRITIC_PATH)")


@contextmanager
def _progress() -> Iterator[ProgressFn]:
    """A rich progress bar fed by the library's (what, done, total) reports, one task per `what`."""
    with progress() as bar:
        tasks: dict[str, TaskID] = {}

        def report(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done, total=total)

        yield report


def _load_critic(path: Path | None) -> Critic:
    from skd.models.critic import Critic

    where = path or get_settings().critic_path
    if where is None:
        raise ConfigError(
            "no critic given: pass --critic DIR or set SKD_CRITIC_PATH (train one with `skd critic train`)"
        )
    with console.status(f"loading the critic {where}"):
        return Critic.load(where)


def _levels_table(levels: dict[str, dict[str, Any]], title: str) -> Table:
    """Each level's cutoff, precision and recall; beside the precision measured on new labels, the one the
    critic promised (measured on its own validation split), so a miscalibrated critic shows."""
    promised = any("validation_precision" in row for row in levels.values())
    table = Table(title=title)
    columns = ["recall level", "cutoff", *(["promised precision"] if promised else []), "precision", "recall"]
    for col in columns:
        table.add_column(col, justify="right")
    for level, row in levels.items():
        cells = [level, f"{row['cutoff']:.4f}"]
        if promised:
            cells.append(f"{row['validation_precision']:.3f}")
        table.add_row(*cells, f"{row['precision']:.3f}", f"{row['recall']:.3f}")
    return table


@app.command()
@handle_errors
def bootstrap(
    source: Path = typer.Argument(..., help="a human-written graph: ATOMIC 2020 TSV (or our JSONL)"),
    out: Path = typer.Option(..., "--out", "-o", help="labels JSONL to write"),
    seed: int = typer.Option(0, help="random seed for the corruptions"),
    negatives: float = typer.Option(NEGATIVES_PER_POSITIVE, help="negatives per positive"),
    relations: str | None = typer.Option(None, help="only these relations: a list, `paper` or `all`"),
) -> None:
    """Build weak labels when no human labels exist: real tails are positives, corruptions negatives."""
    from skd.graph_schema.relations import parse_relations
    from skd.models.critic_labels import bootstrap_labels

    rels = [r.name for r in parse_relations(relations)] if relations else None
    with console.status("bootstrapping weak labels"):
        counts = bootstrap_labels(source, out, seed=seed, negatives_per_positive=negatives, relations=rels)
    print_json(counts.to_json())


@app.command()
@handle_errors
def train(
    sources: list[Path] = typer.Argument(
        ...,
        help="labels JSONL ({head, relation, tail, label} or `labels` lists: judged, human or weak) and human-written "
        "graphs as ATOMIC TSV (weak labels are made from them); several combine",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="folder to save the critic in"),
    encoder: str | None = typer.Option(
        None, help="encoder: built-in name, HF id or folder (default: SKD_CRITIC_ENCODER)"
    ),
    mode: str = typer.Option(
        "pair",
        help="pair (frozen encoder, event and tail apart; fast, the default), "
        "head (frozen encoder, whole sentence) or finetune (whole model)",
    ),
    epochs: int | None = typer.Option(None, help="epochs (default 60 for pair and head, 3 for finetune)"),
    seed: int = typer.Option(0),
    val_fraction: float = typer.Option(0.2, help="share of events held out for calibration"),
    batch_size: int | None = typer.Option(None),
    lr: float | None = typer.Option(None, help="learning rate (default 1e-3 pair and head, 3e-5 finetune)"),
    encoder_layers: int | None = typer.Option(
        None,
        min=0,
        help="keep the encoder's first N layers; 0: all (default: half of them in pair mode, all in the others)",
    ),
    logprob: bool = typer.Option(
        True,
        "--logprob/--no-logprob",
        help="stack the teacher's log-probability (labels' `logprob`) with the encoder where a triple carries one",
    ),
    weak: str = typer.Option(
        "stack",
        help="with weak and judged sources: stack (a head of their own, read by the stack) or mix (one head on both)",
    ),
) -> None:
    """Train a critic, calibrate cutoffs on held-out events, and save it with its metrics and card.

    With any judged (or human) labels among the sources, the cutoffs are calibrated on held-out events of
    those alone; with weak labels alone, the precision figures are estimates on corruptions, and it says so.
    Labels that carry the teacher's log-probability (`logprob`) train a stack that reads it where a scored
    triple carries one (its `provenance.logprob`); other triples are scored without it."""
    from skd.models.critic_stack import LOGPROB_FEATURE
    from skd.models.critic_train import WEAK_CALIBRATION, train_critic

    with _progress() as report:
        critic = train_critic(
            list(sources),
            out,
            encoder=encoder or get_settings().critic_encoder,
            mode=mode,
            epochs=epochs,
            seed=seed,
            progress=report,
            val_fraction=val_fraction,
            batch_size=batch_size,
            lr=lr,
            encoder_layers=encoder_layers,
            features=[LOGPROB_FEATURE] if logprob else [],
            weak_labels=weak,
        )
    m = critic.config.metrics
    console.print(_levels_table(critic.config.levels, f"validation ROC-AUC {m['roc_auc']:.3f}"))
    if critic.config.calibration == WEAK_CALIBRATION:
        console.print(f"note: {WEAK_CALIBRATION}", style="yellow", markup=False)
    print_json(
        {"critic": str(critic.path), "features": critic.config.features, "metrics": m, "levels": critic.config.levels}
    )


@app.command()
@handle_errors
def score(
    path: Path | None = typer.Argument(None, help="a run folder or a triples file (TSV/JSONL)"),
    critic_path: Path | None = CRITIC_OPTION,
    out: Path | None = typer.Option(None, "--out", "-o", help="write here instead of in place"),
    graph: bool = typer.Option(False, "--graph", help="score the triples stored in the graph"),
    missing_only: bool = typer.Option(False, help="with --graph: only triples without a score"),
    rescore: bool = typer.Option(False, help="score again files that are already scored"),
    batch_size: int | None = typer.Option(None),
) -> None:
    """Add `critic_score` to every triple of a run folder or file (resumable), or of the graph."""
    from skd.ingest.scoring import score_graph, score_path

    if graph == (path is not None):
        raise InputError("give a run folder or file to score, or --graph (one of the two)")
    critic = _load_critic(critic_path)
    bs = batch_size or get_settings().critic_batch_size
    if graph:
        with open_store() as store, _progress() as report:
            summary: GraphScoreSummary | ScoreSummary = score_graph(
                critic, store, batch_size=bs, missing_only=missing_only, progress=report
            )
    else:
        assert path is not None
        with _progress() as report:
            summary = score_path(critic, path, out=out, batch_size=bs, progress=report, rescore=rescore)
    print_json(summary.to_json())


@app.command("filter")
@handle_errors
def filter_(
    path: Path = typer.Argument(..., help="a run folder or a triples file (scored or not)"),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file for the accepted triples"),
    recall_level: float | None = typer.Option(None, help="keep this share of good triples (0.5-0.9 calibrated)"),
    min_precision: float | None = typer.Option(None, help="or: the lowest cutoff reaching this precision"),
    critic_path: Path | None = CRITIC_OPTION,
    rescore: bool = typer.Option(False, help="ignore scores already in the rows"),
    batch_size: int | None = typer.Option(None),
) -> None:
    """Write the triples that pass the critic's cutoff for a recall level or a minimum precision."""
    from skd.ingest.scoring import filter_path

    critic = _load_critic(critic_path)
    if recall_level is None and min_precision is None:
        recall_level = get_settings().critic_recall_level
    with _progress() as report:
        summary = filter_path(
            critic,
            path,
            out,
            recall_level=recall_level,
            min_precision=min_precision,
            batch_size=batch_size or get_settings().critic_batch_size,
            progress=report,
            rescore=rescore,
        )
    console.print(f"kept {summary.accepted} of {summary.total} triples (cutoff {summary.selection['cutoff']:.4f})")
    print_json(summary.to_json())


@app.command("eval")
@handle_errors
def eval_(
    labels: Path = typer.Argument(..., help="labels JSONL to evaluate on"),
    critic_path: Path | None = CRITIC_OPTION,
    plot: Path | None = typer.Option(None, help="PNG file for the precision-recall curve"),
    out: Path | None = typer.Option(None, "--out", "-o", help="also write the report (JSON) to this file"),
    batch_size: int | None = typer.Option(None),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON instead of a table"),
) -> None:
    """ROC-AUC, average precision, and precision and recall at each calibrated level."""
    from skd.models.critic_train import evaluate_critic

    critic = _load_critic(critic_path)
    with _progress() as report:
        result = evaluate_critic(
            critic, labels, plot=plot, batch_size=batch_size or get_settings().critic_batch_size, progress=report
        )
    if out:
        write_json(out, result)
    if as_json:
        print_json(result)
    else:
        console.print(_levels_table(result["levels"], f"ROC-AUC {result['roc_auc']:.3f} on {result['n']} labels"))


@app.command()
@handle_errors
def info(critic_path: Path | None = CRITIC_OPTION) -> None:
    """Show a critic's encoder, mode, layers kept, validation metrics and cutoffs."""
    critic = _load_critic(critic_path)
    cfg = critic.config
    console.print(_levels_table(cfg.levels, f"{critic.path}: {cfg.encoder} ({cfg.mode})"))
    print_json(
        {
            "critic": str(critic.path),
            "encoder": cfg.encoder,
            "mode": cfg.mode,
            "encoder_layers": cfg.encoder_layers,
            "features": cfg.features,
            "metrics": cfg.metrics,
            "levels": cfg.levels,
        }
    )
