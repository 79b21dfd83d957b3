"""The seven pipeline stages, each a typed step from files in the run folder to files in the run folder.

Every stage reads only the config part it declares and the outputs of earlier stages, and returns a
`StageOutput` (paths relative to the run folder, and counts for the report); `skd.pipeline.runner` decides
which stages run, and records what they returned.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skd.core.errors import BudgetExceededError, IncompleteRunError, InputError, TeacherError
from skd.core.files import write_json_lines
from skd.core.settings import Settings
from skd.graph_schema.records import Triple
from skd.graph_schema.text import text_key
from skd.graph_schema.triples_io import read_triples, triple_files
from skd.ingest.run import ACCEPTED_FILE, SCORED_DIR, Stop, read_rows
from skd.pipeline.config import PipelineConfig
from skd.pipeline.data import read_graph, split_heldout, take_events, write_triples_tsv

if TYPE_CHECKING:  # the models load torch: imported where a stage needs them
    from skd.graph_schema.store import GraphStore
    from skd.models.critic import Critic
    from skd.models.teacher import Teacher

__all__ = ["STAGES", "Stage", "StageContext", "StageOutput", "stage_names"]

EVENTS_DIR, INFERENCES_DIR, CRITIC_DIR = "events", "inferences", "critic"
HELDOUT, STUDENT_DIR, EVALUATION = "heldout-references.tsv", "student", "evaluation"


class ProgressSink:
    """Where stages report progress inside a stage; `skd.pipeline.runner.PipelineProgress` implements it."""

    def update(self, description: str, done: int, total: int | None) -> None:
        """`done` of `total` units of the current step (total None: unknown)."""


@dataclass(slots=True)
class StageOutput:
    """What a stage made: files (relative to the run folder), counts for the report, teacher usage."""

    outputs: dict[str, str] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] | None = None


class StageContext:
    """What stages share within one pipeline run: the config, settings, the run folder, and models and the
    graph opened once, on first use, and closed at the end."""

    def __init__(
        self,
        config: PipelineConfig,
        settings: Settings,
        run_dir: Path,
        progress: ProgressSink,
        store: GraphStore | None = None,
        records: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.config, self.settings, self.run_dir, self.progress = config, settings, run_dir, progress
        self.records = records if records is not None else {}
        self._store, self._own_store = store, store is None
        self._teacher: Teacher | None = None
        self._critic: Critic | None = None

    def path(self, name: str) -> Path:
        return self.run_dir / name

    def output(self, stage: str, name: str) -> Path:
        """A file an earlier stage recorded (absolute paths, such as an existing critic, stay as they are)."""
        try:
            rel = self.records[stage]["outputs"][name]
        except KeyError as e:
            raise InputError(f"stage {stage!r} has not recorded its {name!r} output; run it first") from e
        return self.run_dir / rel

    def teacher(self) -> Teacher:
        if self._teacher is None:
            from skd.models.teacher import make_teacher

            with_overrides = self.settings.model_copy(update=self.config.teacher.settings_overrides())
            # the first use of the bundled SmolLM2 converts it from GGUF, about a minute: say so
            self.progress.update(f"loading the teacher {self.config.teacher.model}", 0, None)
            self._teacher = make_teacher(self.config.teacher.model, with_overrides)
        return self._teacher

    def critic(self) -> Critic:
        if self._critic is None:
            from skd.models.critic import Critic

            self.progress.update("loading the critic", 0, None)
            self._critic = Critic.load(self.output("critic", "critic"))
        return self._critic

    def set_critic(self, critic: Critic) -> None:
        self._critic = critic

    def store(self) -> GraphStore:
        if self._store is None:
            from skd.graph_schema.connect import connect

            self.progress.update("connecting to the graph", 0, None)
            self._store = connect(self.settings, ensure_schema=True)
        return self._store

    def close(self) -> None:
        if self._store is not None and self._own_store:
            self._store.close()
            self._store = None


@dataclass(frozen=True, slots=True)
class Stage:
    """One step: its name, what it does, the config it depends on, the files it owns, and the work."""

    name: str
    title: str
    part: Callable[[PipelineConfig, Settings], dict[str, Any]]
    owns: tuple[str, ...]
    run: Callable[[StageContext], StageOutput]


def _usage_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: after.get(k, 0) - before.get(k, 0)
        for k in ("requests", "prompt_tokens", "completion_tokens", "cost", "retries")
    }
    out["cost"] = round(float(out["cost"]), 6)
    out["tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    return out


def _teacher_usage(teacher: Teacher) -> dict[str, Any]:
    usage = getattr(teacher, "usage", None)
    fields = ("requests", "prompt_tokens", "completion_tokens", "cost", "retries")
    return {k: getattr(usage, k, 0) for k in fields}


def _stopped(what: str, stop: Stop | None, stopped: str | None, have: int) -> None:
    """A teacher stage that stopped early: a spending cap leaves it unfinished (resumable); running out of
    prompts with something to show is accepted; with nothing, the teacher failed."""
    if stop is Stop.BUDGET:
        raise BudgetExceededError(f"{what} stopped: {stopped}")
    if have == 0:
        raise TeacherError(f"{what}: the teacher produced nothing usable ({stopped or 'no output'})")


# -- 1. teacher events --------------------------------------------------------------------------------------
#: teacher keys that change how fast or how far a run goes, not what it writes: raising a cap resumes
_TEACHER_PACE = {
    "concurrency",
    "batch_size",
    "price_per_1k_prompt_tokens",
    "price_per_1k_completion_tokens",
    "max_cost",
    "max_tokens",
}


def _teacher_part(c: PipelineConfig) -> dict[str, Any]:
    return c.teacher.model_dump(exclude=_TEACHER_PACE)


def _events_part(c: PipelineConfig, s: Settings) -> dict[str, Any]:
    return {"teacher": _teacher_part(c), "events": c.events.model_dump(mode="json"), "seed": c.run.seed}


def _events_from_file(ctx: StageContext, path: Path) -> StageOutput:
    """The user's own events, cleaned and deduplicated, in the same shard layout the teacher's go to."""
    import json

    from skd.ingest.prompts import load_seed_events

    events = load_seed_events(path)[: ctx.config.events.n]
    folder = ctx.path(EVENTS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "events-00000.jsonl.partial"
    with tmp.open("w", encoding="utf-8") as fh:
        for i, e in enumerate(events, start=1):
            row = {"id": f"{ctx.config.run.name}:e{i}", "event": e.text, "key": text_key(e.text), "source": str(path)}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(folder / "events-00000.jsonl")
    if not events:
        raise InputError(f"{path}: no events")
    return StageOutput(
        outputs={"events": EVENTS_DIR},
        counts={
            "events": len(events),
            "wanted": ctx.config.events.n,
            "complete": True,
            "from_file": str(path),
            "prompts": 0,
            "rejected": 0,
            "duplicates": 0,
        },
    )


def _events(ctx: StageContext) -> StageOutput:
    from skd.ingest.events import generate_events

    cfg = ctx.config.events
    if cfg.file is not None:
        return _events_from_file(ctx, ctx.config.resolve(cfg.file))
    seed_file = ctx.config.resolve(cfg.seed_file) if cfg.seed_file else None
    store = ctx.store() if cfg.dedupe_against_graph else None
    summary = generate_events(
        ctx.teacher(),
        ctx.path(EVENTS_DIR),
        cfg.n,
        seed_file,
        store,
        examples_per_prompt=cfg.examples_per_prompt,
        prompts_per_batch=cfg.prompts_per_batch,
        max_tokens=cfg.max_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        seed=ctx.config.run.seed,
        max_prompts=cfg.max_prompts,
        cache=ctx.settings.request_cache_path if ctx.config.teacher.cache else None,
        progress=lambda st: ctx.progress.update("events accepted", st.done, st.total),
    )
    _stopped("event generation", summary.stop, summary.stopped, summary.events)
    stats = summary.stats
    return StageOutput(
        outputs={"events": EVENTS_DIR},
        counts={
            "events": summary.events,
            "wanted": summary.target,
            "complete": summary.complete,
            "prompts": stats.get("prompts", 0),
            "completions": stats.get("completions", 0),
            "rejected": stats.get("rejected", 0),
            "duplicates": stats.get("duplicates", 0),
            "reasons": stats.get("reasons", {}),
            "stopped": summary.stopped,
        },
        usage=summary.usage,
    )


# -- 2. teacher inferences ----------------------------------------------------------------------------------
def _inferences_part(c: PipelineConfig, s: Settings) -> dict[str, Any]:
    return {
        "teacher": _teacher_part(c),
        "inferences": c.inferences.model_dump(),
        "relations": c.run.relation_names,
        "seed": c.run.seed,
    }


def count_by_relation(triples: Iterable[Triple]) -> dict[str, int]:
    return dict(sorted(Counter(t.relation for t in triples).items()))


def _triples_of(path: Path) -> list[Triple]:
    return [n.triple for f in triple_files(path) for n in read_triples(f)]


def _inferences(ctx: StageContext) -> StageOutput:
    from skd.ingest.inferences import generate_inferences

    cfg = ctx.config.inferences
    events_dir = ctx.output("events", "events")
    rows = read_rows(sorted(events_dir.glob("events-*.jsonl")))
    events = [r["event"] for r in rows if isinstance(r.get("event"), str)]
    if not events:
        raise InputError(f"{events_dir}: no events to infer from")
    summary = generate_inferences(
        ctx.teacher(),
        ctx.path(INFERENCES_DIR),
        ctx.config.run.relation_names,
        cfg.per_pair,
        events=events,
        examples_per_prompt=cfg.examples_per_prompt,
        max_tokens=cfg.max_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        seed=ctx.config.run.seed,
        batch_pairs=cfg.batch_pairs,
        cache=ctx.settings.request_cache_path if ctx.config.teacher.cache else None,
        progress=lambda st: ctx.progress.update("(event, relation) pairs", st.done, st.total),
    )
    _stopped("inference generation", summary.stop, summary.stopped, summary.triples)
    if not summary.complete:
        raise IncompleteRunError(
            f"inference generation finished {summary.pairs_done} of {summary.pairs} pairs; run again to resume"
        )
    stats = summary.stats
    return StageOutput(
        outputs={"triples": INFERENCES_DIR},
        counts={
            "events": len(events),
            "pairs": summary.pairs,
            "triples": summary.triples,
            "completions": stats.get("completions", 0),
            "rejected": stats.get("rejected", 0),
            "duplicates": stats.get("duplicates", 0),
            "reasons": stats.get("reasons", {}),
            "by_relation": count_by_relation(_triples_of(ctx.path(INFERENCES_DIR))),
        },
        usage=summary.usage,
    )


# -- 3. the critic ------------------------------------------------------------------------------------------
def _critic_part(c: PipelineConfig, s: Settings) -> dict[str, Any]:
    critic = c.critic.model_dump(mode="json", exclude={"recall_level", "batch_size"})
    if c.critic.path is not None:  # an existing critic: how one would be trained does not matter
        critic = {"path": critic["path"]}
    return {
        "critic": critic,
        "references": c.evaluate.references,
        "heldout_events": c.evaluate.events,
        "relations": c.run.relation_names,
        "seed": c.run.seed,
    }


def _critic(ctx: StageContext) -> StageOutput:
    from skd.models.critic import Critic
    from skd.models.critic_labels import bootstrap_labels, read_labels
    from skd.models.critic_stack import LOGPROB_FEATURE
    from skd.models.critic_train import train_critic

    cfg, run = ctx.config.critic, ctx.config.run
    relations = run.relation_names
    # held-out events first: they must never reach the critic's labels (nor, later, the student)
    references = read_graph(ctx.config.resolve(ctx.config.evaluate.references), relations)
    _, heldout = split_heldout(references, ctx.config.evaluate.events, run.seed)
    write_triples_tsv(heldout, ctx.path(HELDOUT))
    held_keys = {text_key(t.head) for t in heldout}
    counts: dict[str, Any] = {"heldout_events": len(held_keys), "heldout_triples": len(heldout)}
    if cfg.path is not None:
        folder = ctx.config.resolve(cfg.path)
        critic = Critic.load(folder)
        ctx.set_critic(critic)
        counts.update(source="existing", metrics=critic.config.metrics)
        return StageOutput(outputs={"critic": str(folder.resolve()), "heldout": HELDOUT}, counts=counts)

    sources: list[Path] = []
    weak_counts: dict[str, Any] | None = None
    if not cfg.judged or cfg.combine in ("weak+judged", "stack"):
        ctx.progress.update("weak labels", 0, None)
        graph = [
            t for t in read_graph(ctx.config.resolve(cfg.bootstrap), relations) if text_key(t.head) not in held_keys
        ]
        graph = take_events(graph, cfg.bootstrap_events, run.seed)
        write_triples_tsv(graph, ctx.path(f"{CRITIC_DIR}/bootstrap-graph.tsv"))
        weak_counts = bootstrap_labels(
            ctx.path(f"{CRITIC_DIR}/bootstrap-graph.tsv"),
            ctx.path(f"{CRITIC_DIR}/labels.jsonl"),
            seed=run.seed,
            negatives_per_positive=cfg.negatives_per_positive,
            relations=relations,
        ).to_json()
        sources.append(ctx.path(f"{CRITIC_DIR}/labels.jsonl"))
    judged_counts: dict[str, int] = {}
    if cfg.judged:
        # judged teacher output, less the held-out events: the student is evaluated on those
        files = [ctx.config.resolve(f) for f in cfg.judged]
        for f in files:
            read_labels(f, strict=True)  # a bad row stops the stage, named `file:line`
        rows = [r for r in read_rows(files) if text_key(str(r.get("head", ""))) not in held_keys]
        write_json_lines(ctx.path(f"{CRITIC_DIR}/judged.jsonl"), rows)
        sources.append(ctx.path(f"{CRITIC_DIR}/judged.jsonl"))
        judged_counts = {"files": len(cfg.judged), "rows": len(rows)}
    mode: dict[str, Any] = {"mode": cfg.mode} if cfg.mode else {}
    critic = train_critic(
        sources,
        ctx.path(f"{CRITIC_DIR}/model"),
        encoder=cfg.encoder,
        epochs=cfg.epochs,
        seed=run.seed,
        encoder_layers=cfg.encoder_layers,
        features=[LOGPROB_FEATURE] if cfg.logprob else [],
        weak_labels="mix" if cfg.combine == "weak+judged" else "stack",
        **mode,
        progress=lambda what, done, total: ctx.progress.update(f"critic: {what}", done, total),
    )
    ctx.set_critic(critic)
    metrics = critic.config.metrics
    counts.update(
        source="trained on "
        + " and ".join(k for k, on in (("weak labels", weak_counts), ("judged teacher output", judged_counts)) if on),
        bootstrap=cfg.bootstrap if weak_counts else None,
        labels=weak_counts,
        judged=judged_counts,
        calibration=critic.config.calibration,
        sources=critic.config.sources,
        features=critic.config.features,
        metrics={
            k: metrics.get(k)
            for k in (
                "roc_auc",
                "roc_auc_without_logprob",
                "average_precision",
                "train_examples",
                "val_examples",
                "val_events",
                "train_seconds",
            )
        },
    )
    return StageOutput(
        outputs={"critic": f"{CRITIC_DIR}/model", "heldout": HELDOUT},
        counts=counts,
    )


# -- 4. score and filter ------------------------------------------------------------------------------------
def _filter_part(c: PipelineConfig, s: Settings) -> dict[str, Any]:
    return {"recall_level": c.critic.recall_level}


def _filter(ctx: StageContext) -> StageOutput:
    from skd.ingest.scoring import filter_path, score_path

    critic, cfg = ctx.critic(), ctx.config.critic
    report = lambda what, done, total: ctx.progress.update(what, done, total)  # noqa: E731
    scored = score_path(
        critic,
        ctx.output("inferences", "triples"),
        out=ctx.path(SCORED_DIR),
        batch_size=cfg.batch_size,
        progress=report,
    )
    kept = filter_path(
        critic,
        ctx.path(SCORED_DIR),
        ctx.path(ACCEPTED_FILE),
        recall_level=cfg.recall_level,
        batch_size=cfg.batch_size,
        progress=report,
    )
    generated = count_by_relation(_triples_of(ctx.path(SCORED_DIR)))
    promised = kept.selection.get("validation_precision_by_relation", {})
    per_relation = {
        rel: {
            "generated": n,
            "accepted": kept.accepted_by_relation.get(rel, 0),
            "rate": kept.accepted_by_relation.get(rel, 0) / n if n else 0.0,
            # what the critic's calibration promises of the accepted ones (None: no such labels to say)
            "promised_precision": promised.get(rel),
        }
        for rel, n in generated.items()
    }
    return StageOutput(
        outputs={"scored": SCORED_DIR, "accepted": ACCEPTED_FILE},
        counts={
            "scored": scored.scored,
            "mean_score": scored.mean_score,
            "total": kept.total,
            "accepted": kept.accepted,
            "rate": kept.accepted / kept.total if kept.total else 0.0,
            "selection": kept.selection,
            "by_relation": per_relation,
        },
    )


# -- 5. load into the graph ---------------------------------------------------------------------------------
def _load_part(c: PipelineConfig, s: Settings) -> dict[str, Any]:
    # another graph is another load: the target is part of what this stage did
    target = s.graph_uri or f"embedded:{s.arcadedb_dir}"
    return {"load": c.load.model_dump(), "graph": target, "database": s.graph_database}


def _load(ctx: StageContext) -> StageOutput:
    if not ctx.config.load.enabled:
        return StageOutput(counts={"disabled": True})
    from skd.ingest.load import load_path

    store = ctx.store()
    done = lambda path, line, total, loaded: ctx.progress.update("lines loaded", line, total)  # noqa: E731
    report = load_path(store, ctx.output("filter", "accepted"), checkpoints=ctx.path("load-checkpoints"), progress=done)
    stats = store.stats()
    # no file output: the graph is the output, and the checkpoints are gone once a load completes
    return StageOutput(
        counts={
            "loaded": report.triples,
            "bad_lines": len(report.errors),
            "graph": {k: stats.get(k) for k in ("backend", "events", "inferences", "triples", "scored", "by_source")},
        }
    )


# -- 6. the student -----------------------------------------------------------------------------------------
def _student_part(c: PipelineConfig, s: Settings) -> dict[str, Any]:
    return {"student": c.student.model_dump()}


def _student(ctx: StageContext) -> StageOutput:
    from skd.models.student_train import train_student

    cfg = ctx.config.student
    accepted = ctx.output("filter", "accepted")
    held = {text_key(t.head) for t in _triples_of(ctx.output("critic", "heldout"))}
    triples = _triples_of(accepted)
    train = [t for t in triples if text_key(t.head) not in held]
    selection = ctx.records.get("filter", {}).get("counts", {}).get("selection", {})
    n_events = len({text_key(t.head) for t in train})
    described = (
        f"{len(train)} teacher triples ({ctx.config.teacher.model}) accepted by the critic at recall "
        f"level {ctx.config.critic.recall_level} (cutoff {selection.get('cutoff', float('nan')):.3f}), "
        f"{n_events} events, relations {', '.join(ctx.config.run.relation_names)}"
    )
    human: list[Triple] = []
    if cfg.human_rows:
        rows = read_graph(ctx.config.resolve(cfg.human_rows), ctx.config.run.relation_names)
        human = [t for t in rows if text_key(t.head) not in held]
        described += f"; plus {len(human)} human-written rows of {cfg.human_rows}"
        train = [*train, *human]
    ctx.progress.update(f"loading the base model {cfg.base}", 0, None)
    result = train_student(
        train,
        ctx.path(STUDENT_DIR),
        base=cfg.base,
        models_dir=ctx.settings.models_dir,
        max_steps=cfg.max_steps,
        batch_size=cfg.batch_size,
        grad_accum=cfg.grad_accum,
        lr=cfg.lr,
        eval_every=cfg.eval_every,
        patience=cfg.patience,
        seed=ctx.config.run.seed,
        resume=True,
        max_len=cfg.max_len,
        val_fraction=cfg.val_fraction,
        data={
            "source": str(accepted),
            "trained_on": described,
            "teacher_triples": len(train) - len(human),
            "human_rows": len(human),
            "human_source": cfg.human_rows,
        },
        progress=lambda p: ctx.progress.update("student steps", p.step, p.max_steps),
    )
    return StageOutput(
        outputs={"student": STUDENT_DIR},
        counts={
            "trained_on": described,
            "base": cfg.base,
            "train_triples": result.train_examples,
            "val_triples": result.val_examples,
            "heldout_dropped": len(triples) - len(train),
            "steps": result.steps,
            "best_step": result.best_step,
            "best_val_loss": result.best_val_loss,
            "train_loss": result.train_loss,
            "stopped_early": result.stopped_early,
        },
    )


# -- 7. student against teacher -----------------------------------------------------------------------------
def _evaluate_part(c: PipelineConfig, s: Settings) -> dict[str, Any]:
    return {
        "evaluate": c.evaluate.model_dump(),
        "inferences": c.inferences.model_dump(),
        "recall_level": c.critic.recall_level,
    }


def _evaluate(ctx: StageContext) -> StageOutput:
    if not ctx.config.evaluate.enabled:
        return StageOutput(counts={"disabled": True})
    from skd.ingest.inferences import infer_for_events
    from skd.models.student import Student
    from skd.models.student_eval import evaluate, group_triples, read_references, student_outputs, write_report

    cfg, inf = ctx.config.evaluate, ctx.config.inferences
    refs = read_references(ctx.output("critic", "heldout"))
    teacher = ctx.teacher()
    before = _teacher_usage(teacher)
    by_relation: dict[str, list[str]] = {}
    for key, rel in refs.pairs:
        by_relation.setdefault(rel, []).append(refs.heads[key])
    triples: list[Triple] = []
    for i, (rel, events) in enumerate(sorted(by_relation.items())):
        ctx.progress.update("teacher on held-out events (relations)", i, len(by_relation))
        # the run's own decoding and prompts, one relation at a time so no unasked pair is generated
        triples += infer_for_events(
            teacher,
            events,
            [rel],
            cfg.teacher_per_pair,
            examples_per_prompt=inf.examples_per_prompt,
            max_tokens=inf.max_tokens,
            temperature=inf.temperature,
            top_p=inf.top_p,
            seed=ctx.config.run.seed,
            cache=ctx.settings.request_cache_path if ctx.config.teacher.cache else None,
        )
    usage = _usage_delta(before, _teacher_usage(teacher))
    ctx.progress.update("student on held-out events", 0, None)
    student = Student.load(ctx.output("student", "student"))
    systems = {"teacher": group_triples(triples)[0], "student": student_outputs(student, refs)}
    names = {"teacher": f"teacher ({teacher.name})", "student": f"student ({ctx.config.student.base} distilled)"}
    report = evaluate(
        refs,
        systems,
        names=names,
        critic=ctx.critic(),
        recall_level=ctx.config.critic.recall_level,
        common_pairs=False,
        examples=cfg.examples,
    )
    write_report(report, ctx.path(EVALUATION))
    systems_out = {s: {k: v for k, v in row.items() if k != "name"} for s, row in report["systems"].items()}
    return StageOutput(
        outputs={"report_json": f"{EVALUATION}.json", "report_md": f"{EVALUATION}.md"},
        counts={
            "pairs": report["references"]["pairs"],
            "events": report["references"]["events"],
            "systems": systems_out,
            "critic": report["critic"],
        },
        usage=usage,
    )


STAGES: tuple[Stage, ...] = (
    Stage("events", "teacher events", _events_part, (EVENTS_DIR,), _events),
    Stage("inferences", "teacher inferences", _inferences_part, (INFERENCES_DIR,), _inferences),
    Stage("critic", "critic", _critic_part, (CRITIC_DIR, HELDOUT), _critic),
    Stage("filter", "critic score + filter", _filter_part, (SCORED_DIR, ACCEPTED_FILE), _filter),
    Stage("load", "load into the graph", _load_part, ("load-checkpoints",), _load),
    Stage("student", "student training", _student_part, (STUDENT_DIR,), _student),
    Stage("evaluate", "student vs teacher", _evaluate_part, (f"{EVALUATION}.json", f"{EVALUATION}.md"), _evaluate),
)


def stage_names() -> list[str]:
    return [s.name for s in STAGES]
