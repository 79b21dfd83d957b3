"""`skd student ...`: train the distilled student, generate with it, and evaluate it beside its teacher."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from skd.cli.common import console, get_settings, handle_errors, open_store, print_json, progress
from skd.core.errors import ConfigError, InputError

if TYPE_CHECKING:
    from skd.graph_schema.records import Triple
    from skd.models.critic import Critic
    from skd.models.student_train import TrainProgress

app = typer.Typer(help="the distilled student: train, generate, evaluate", no_args_is_help=True)


def _student_dir(model: Path | None) -> Path:
    settings = get_settings()
    return model or settings.student_path or settings.data_dir / "student"


def _critic(path: Path | None) -> Critic:
    from skd.models.critic import Critic

    where = path or get_settings().critic_path
    if where is None:
        raise ConfigError("a critic is needed: give --critic DIR or set SKD_CRITIC_PATH")
    return Critic.load(where)


def _training_triples(
    sources: list[Path], graph: bool, min_score: float | None, recall_level: float | None, critic_path: Path | None
) -> tuple[list[Triple], dict[str, Any]]:
    from skd.models.student_data import apply_critic, select_triples, triples_from_graph, triples_from_path

    if not sources and not graph:
        raise InputError("give training data: --from RUN_DIR_OR_FILE (repeatable) or --graph")
    triples: list[Triple] = []
    for src in sources:
        triples += triples_from_path(src)
    if graph:
        with open_store() as store:
            triples += triples_from_graph(store, min_score=min_score)
    data: dict[str, Any] = {
        "sources": ", ".join([*map(str, sources), *(["graph"] if graph else [])]),
        "triples_read": len(triples),
        "min_score": min_score,
    }
    triples = select_triples(triples, min_score=min_score)
    if recall_level is not None:
        critic = _critic(critic_path)
        with console.status(f"filtering {len(triples)} triples with critic {critic.name}"):
            triples, cutoff = apply_critic(triples, critic, recall_level)
        data.update(critic=critic.name, recall_level=recall_level, critic_cutoff=cutoff)
    data["triples_kept"] = len(triples)
    return triples, data


@app.command()
@handle_errors
def train(
    sources: list[Path] = typer.Option([], "--from", help="run folder, triples file or folder (repeatable)"),
    graph: bool = typer.Option(False, "--graph", help="train on the graph's triples (store.export)"),
    out: Path | None = typer.Option(None, "--out", "-o", help="student folder [SKD_STUDENT_PATH or DATA_DIR/student]"),
    base: str | None = typer.Option(None, help="base causal LM: smollm2, an HF id or a folder [SKD_STUDENT_BASE]"),
    min_score: float | None = typer.Option(None, help="keep triples whose stored score is at least this"),
    recall_level: float | None = typer.Option(None, help="keep triples above the critic's cutoff for this recall"),
    critic: Path | None = typer.Option(None, help="critic folder for --recall-level [SKD_CRITIC_PATH]"),
    max_steps: int = typer.Option(1000, min=1),
    batch_size: int = typer.Option(16, min=1),
    grad_accum: int = typer.Option(1, min=1),
    lr: float = typer.Option(5e-5, min=0),
    eval_every: int = typer.Option(100, min=1, help="steps between validation losses and checkpoints"),
    patience: int = typer.Option(3, min=1, help="evaluations without improvement before stopping"),
    val_fraction: float = typer.Option(0.05, min=0, max=0.5, help="share of events held out for validation"),
    seed: int = typer.Option(0),
    fresh: bool = typer.Option(False, "--fresh", help="ignore a checkpoint in --out and start over"),
) -> None:
    """Fine-tune a student on (event, relation, inference) triples; resumes from --out's checkpoint."""
    from skd.models.student_train import CKPT_DIR, train_student

    settings = get_settings()
    folder = _student_dir(out)
    resuming = not fresh and (folder / CKPT_DIR / "ckpt.pt").exists()
    if resuming:
        console.print(f"resuming from {folder / CKPT_DIR} (its stored config and data are used)")
        triples: list[Triple] = []
        data: dict[str, Any] = {}
    else:
        triples, data = _training_triples(sources, graph, min_score, recall_level, critic)
        console.print(f"{data['triples_kept']} training triples from {data['sources']}")
    with progress() as bar:
        task = bar.add_task("training", total=max_steps)

        def report(p: TrainProgress) -> None:
            desc = f"loss {p.train_loss:.3f}" + (f" val {p.val_loss:.3f}" if p.val_loss is not None else "")
            bar.update(task, completed=p.step, total=p.max_steps, description=desc)

        result = train_student(
            triples,
            folder,
            base=base or settings.student_base,
            models_dir=settings.models_dir,
            max_steps=max_steps,
            batch_size=batch_size,
            grad_accum=grad_accum,
            lr=lr,
            eval_every=eval_every,
            patience=patience,
            seed=seed,
            resume=not fresh,
            progress=report,
            val_fraction=val_fraction,
            data=data,
        )
    print_json({k: str(v) if isinstance(v, Path) else v for k, v in vars(result).items()})


@app.command()
@handle_errors
def generate(
    event: str = typer.Argument(..., help='the event, e.g. "PersonX buys a car"'),
    relation: str = typer.Option("paper", "--relation", "-r", help="relation(s): xWant,xNeed | paper | all"),
    model: Path | None = typer.Option(None, "--model", "-m", help="student folder [SKD_STUDENT_PATH]"),
    n: int = typer.Option(1, "-n", min=1, help="inferences per relation"),
    decoding: str = typer.Option("greedy", help="greedy | beam | sample"),
    num_beams: int = typer.Option(4, min=1),
    temperature: float = typer.Option(0.7, min=0.01),
    max_new_tokens: int = typer.Option(24, min=1),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Write inferences for one event with the student."""
    from skd.graph_schema.relations import parse_relations
    from skd.models.student import Student

    relations = [r.name for r in parse_relations(relation)]
    with console.status("loading the student"):
        student = Student.load(_student_dir(model))
    gens = student.generate(
        [(event, r) for r in relations],
        n=n,
        decoding=decoding,
        num_beams=num_beams,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
    )
    rows: list[dict[str, Any]] = [
        {"relation": r, "inference": g.text, "logprob": round(g.logprob, 4)}
        for r, gs in zip(relations, gens, strict=True)
        for g in gs
    ]
    if as_json:
        print_json({"event": event, "student": student.name, "inferences": rows})
        return
    from rich.table import Table

    table = Table(title=event)
    for col in ("relation", "inference", "logprob"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["relation"], row["inference"], f"{row['logprob']:.2f}")
    console.print(table)


@app.command("eval")
@handle_errors
def evaluate_cmd(
    references: Path = typer.Option(..., "--references", help="reference triples (ATOMIC TSV or JSONL)"),
    model: Path | None = typer.Option(None, "--model", "-m", help="student folder [SKD_STUDENT_PATH]"),
    teacher_run: Path | None = typer.Option(None, help="run folder (or triples file) of teacher outputs"),
    teacher: str | None = typer.Option(None, help="teacher spec to generate on the spot (smollm2, openai:MODEL)"),
    per_pair: int = typer.Option(1, min=1, help="teacher outputs per pair when generating on the spot"),
    critic: Path | None = typer.Option(None, help="critic folder [SKD_CRITIC_PATH]; none set: no acceptance"),
    recall_level: float | None = typer.Option(None, help="critic recall level [the critic's default]"),
    limit_pairs: int | None = typer.Option(None, min=1, help="evaluate only the first N pairs"),
    out: Path | None = typer.Option(None, "--out", "-o", help="write OUT.json and OUT.md"),
    update_card: bool = typer.Option(False, help="add the results to the student's model card"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of Markdown"),
) -> None:
    """BLEU-1..4, ROUGE-L and critic acceptance of the student's greedy outputs, beside the teacher's."""
    from skd.ingest.inferences import teacher_outputs_live
    from skd.models.student import Student
    from skd.models.student_eval import (
        evaluate,
        read_references,
        render_markdown,
        student_outputs,
        teacher_outputs_from_run,
        write_report,
    )

    if teacher_run and teacher:
        raise InputError("give --teacher-run or --teacher, not both")
    refs = read_references(references, limit_pairs)
    folder = _student_dir(model)
    with console.status(f"student: greedy outputs for {len(refs.pairs)} pairs"):
        student = Student.load(folder)
        systems = {"student": student_outputs(student, refs)}
    names = {"student": student.name}
    if teacher_run:
        systems["teacher"], names["teacher"] = teacher_outputs_from_run(teacher_run), str(teacher_run)
    elif teacher:
        from skd.models.teacher import make_teacher

        with console.status(f"teacher {teacher}: few-shot outputs"):
            systems["teacher"] = teacher_outputs_live(make_teacher(teacher, get_settings()), refs, per_pair)
        names["teacher"] = teacher
    else:
        console.print("[yellow]no teacher given (--teacher-run or --teacher): the student alone is reported")
    scorer = _critic(critic) if critic or get_settings().critic_path else None
    with console.status("scoring"):
        report = evaluate(refs, systems, names, critic=scorer, recall_level=recall_level)
    if out:
        js, md = write_report(report, out)
        console.print(f"wrote {js} and {md}")
    if update_card:
        from skd.models.student import read_info, write_info
        from skd.models.student_card import write_model_card

        info = read_info(folder)
        info["evaluation"] = {"report": report, "markdown": render_markdown(report)}
        write_info(folder, info)
        write_model_card(folder, info)
    if as_json:
        print_json(report)
    else:
        typer.echo(render_markdown(report))
