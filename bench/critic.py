"""Bench the critic: on judged teacher output of events it never saw, and on held-out weak labels.

First section (its real job): the bundled judged SmolLM2 inferences (`ingest/data/teacher-labels-smollm2.jsonl`)
split by event (seed 0, `--test-fraction` of the events held out); the critic is trained the pipeline's
way (weak labels from the bundled ATOMIC rows of the other events plus the other judged labels, or
`--judged-sources judged|weak|weak+judged`) and tested on the held-out judgments: ROC-AUC, average
precision, precision at recall 0.5, and at every level the precision promised beside the one measured.

Second section: weak labels are bootstrapped from the shared ATOMIC 2020 sample; a share of its events is held out
before training (the critic never sees them, not even for calibration) and the trained critic is
tested on their labels, overall and per kind of negative. Prints the figures and writes them to
bench/results/critic.json (`--out` elsewhere).

    python bench/critic.py [--encoder all-MiniLM-L6-v2] [--mode pair] [--test-fraction 0.2] [--lines N]
    python bench/critic.py --skip-weak --judged-sources judged --variants all   # every variant of the judged section

The variants (`VARIANTS`) are each trained on the same training sources (never a held-out event, not even
its ATOMIC rows) and scored on the same held-out judgments: ROC-AUC, average precision, precision at recall
0.5, train time, and triples/s on the judged rows as teacher output comes, beside the plain pair critic's
speed measured in turns with it (the ratio holds on a busy machine); the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from skd.models.calibration import at_cutoff, metrics  # noqa: E402
from skd.models.critic import MODES, Critic  # noqa: E402
from skd.models.critic_labels import NEGATIVES_PER_POSITIVE, bootstrap_labels, read_labels, split_by_event  # noqa: E402
from skd.models.critic_train import DEFAULT_MODE, train_critic  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "atomic2020" / "atomic2020-sample.tsv"
RESULTS = ROOT / "bench" / "results" / "critic.json"
AIMS = {"triples_per_second": 400, "heldout_roc_auc": 0.85}
JUDGED = ROOT / "ingest" / "data" / "teacher-labels-smollm2.jsonl"
BOOTSTRAP = ROOT / "ingest" / "data" / "atomic2020-paper.tsv"
JUDGED_AIMS = {"roc_auc": 0.85, "precision_at_recall_0_5": 0.6, "triples_per_second": 400}


#: The variants of the judged section (`--variants`): how each critic is trained and, for `post`, what the
#: bench fits over its logits on the critic's own calibration split (events its encoder never saw).
#: MiniLM fine-tuned as a cross-encoder on the verbalised triple (event, relation phrase, tail in one text)
CROSS_ENCODER: dict[str, Any] = {
    "sources": "judged",
    "mode": "finetune",
    "encoder_layers": 3,
    "epochs": 3,
    "lr": 8e-5,
    "batch_size": 16,
    "features": [],
}
VARIANTS: dict[str, dict[str, Any]] = {
    # the encoder-only critic of before (pair mode, judged labels alone): the baseline of every ratio
    "pair": {"sources": "judged", "features": []},
    # the teacher's log-probability and the relation alone, no encoder
    "logprob": {"sources": "judged", "features": [], "post": "logprob-only"},
    # per-relation calibration: a logistic regression of the pair logit per relation
    "pair+relation": {"sources": "judged", "features": [], "post": "per-relation"},
    # the stack: pair logit (out of fold) with the log-probability and the relation
    "pair+logprob": {"sources": "judged", "features": ["teacher_logprob"]},
    # ensembles with the weak-label critic: its head's logit in the stack, and weak pre-training
    "pair+weak head": {"sources": "weak+judged", "features": [], "weak_labels": "head"},
    "pair+weak head+logprob": {"sources": "weak+judged", "features": ["teacher_logprob"], "weak_labels": "head"},
    # the judged head (and the stack's out-of-fold heads) pre-trained on the weak labels, then fine-tuned on
    # the judged ones: alone, with the log-probability, and with the weak head and the log-probability
    "pair (weak-pre-trained)": {"sources": "weak+judged", "features": [], "weak_labels": "pretrain"},
    "pair (weak-pre-trained)+logprob": {
        "sources": "weak+judged",
        "features": ["teacher_logprob"],
        "weak_labels": "pretrain",
    },
    "pair (weak-pre-trained)+weak head+logprob": {
        "sources": "weak+judged",
        "features": ["teacher_logprob"],
        "weak_labels": "pretrain+head",
    },
    # nearest human-written tails (the weak labels' ATOMIC rows, other events) in the stack
    # (the default now: `weak_labels="stack"`)
    "pair+weak head+logprob+knn": {"sources": "weak+judged", "features": ["teacher_logprob"], "weak_labels": "stack"},
    "pair (weak-pre-trained)+weak head+logprob+knn": {
        "sources": "weak+judged",
        "features": ["teacher_logprob", "tail_knn"],
        "weak_labels": "pretrain+stack",
    },
    # the teacher (SmolLM2) scores every triple: log p(tail | its prompt), and that less log p(tail | the
    # prompt without the event), in the stack (`critic_teacher`; a forward pass of the teacher per triple)
    "pair+weak head+logprob+teacher PMI": {
        "sources": "weak+judged",
        "features": ["teacher_logprob"],
        "weak_labels": "head",
        "teacher": True,
    },
    "cross-encoder": CROSS_ENCODER,
    "cross-encoder+logprob": {**CROSS_ENCODER, "post": "logprob"},
    # weak labels alone, and mixed with the judged ones into one head (the defaults of before)
    "weak": {"sources": "weak", "features": []},
    "weak+judged mixed": {"sources": "weak+judged", "features": [], "weak_labels": "mix"},
}
TRAIN_KEYS = ("mode", "encoder_layers", "epochs", "lr", "batch_size", "features", "weak_labels")


def judged_split(work: Path, test_fraction: float) -> tuple[dict[str, list[Path]], Path, set[str]]:
    """The held-out events of the judged labels (seed 0) and the training sources without them: judged rows
    of the other events, and the bundled ATOMIC rows less every held-out event (no weak label of a test
    event either)."""
    import random

    from skd.graph_schema.text import text_key

    rows = [json.loads(line) for line in JUDGED.read_text(encoding="utf-8").splitlines()]
    events = sorted({text_key(r["head"]) for r in rows})
    random.Random(0).shuffle(events)
    held = set(events[: round(test_fraction * len(events))])
    test = work / "judged-test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in rows if text_key(r["head"]) in held), encoding="utf-8")
    rest = work / "judged-train.jsonl"
    rest.write_text("".join(json.dumps(r) + "\n" for r in rows if text_key(r["head"]) not in held), encoding="utf-8")
    graph = work / "bootstrap.tsv"
    graph.write_text(
        "".join(
            x for x in BOOTSTRAP.read_text(encoding="utf-8").splitlines(True) if text_key(x.split("\t")[0]) not in held
        ),
        encoding="utf-8",
    )
    return {"judged": [rest], "weak": [graph], "weak+judged": [graph, rest]}, test, held


def _figures(y: list[int], scores: list[float]) -> dict[str, float]:
    from sklearn.metrics import precision_recall_curve

    m = metrics(y, scores)
    precision, recall, _ = precision_recall_curve(y, scores)
    at_half = float(max(p for p, r in zip(precision, recall, strict=True) if r >= 0.5))
    return {
        "roc_auc": round(m["roc_auc"], 4),
        "average_precision": round(m["average_precision"], 4),
        "precision_at_recall_0_5": round(at_half, 4),
    }


def speed_items() -> list[Any]:
    """What the speed is measured on: every judged row as teacher output comes (a `Triple` with its
    log-probability), 2,761 triples of 200 events, several tails per event."""
    from skd.graph_schema.records import Triple

    rows = [json.loads(line) for line in JUDGED.read_text(encoding="utf-8").splitlines()]
    return [
        Triple(r["head"], r["relation"], r["tail"], teachers=[r["teacher"]], provenance={"logprob": r["logprob"]})
        for r in rows
    ]


def _post(kind: str, critic: Critic, train_rows: list[Any], test_rows: list[Any]) -> tuple[list[float], Any]:
    """Scores of the test rows from a model the bench fits over the critic on its calibration split (the
    judged training rows of the events `train_critic` held out: its encoder never saw them)."""
    import numpy as np

    from skd.models.critic_stack import LOGPROB_PARTS, LinearStack, logprob_columns

    _, calib = split_by_event(train_rows, 0.2, seed=0)  # train_critic's own split of judged-only sources
    y = np.asarray([int(e.acceptable) for e in calib])
    relations = sorted({e.relation for e in train_rows})

    def columns(rows: list[Any], with_logit: bool) -> tuple[np.ndarray, list[str]]:
        """[logit], the log-probability's sum, mean per token and log token count, and the relation one-hot."""
        parts, names = [], []
        if with_logit:
            parts.append(np.asarray(critic.encoder_logits([e.item for e in rows])[0]).reshape(-1, 1))
            names.append("logit")
        parts.append(logprob_columns([e.logprob for e in rows], critic.tail_tokens([e.tail for e in rows])))
        names += list(LOGPROB_PARTS)
        parts.append(np.asarray([[float(e.relation == r) for r in relations] for e in rows]))
        names += [f"relation={r}" for r in relations]
        return np.hstack(parts), names

    if kind == "per-relation":
        z_calib = np.asarray(critic.encoder_logits([e.item for e in calib])[0])
        z_test = np.asarray(critic.encoder_logits([e.item for e in test_rows])[0])
        out = np.zeros(len(test_rows))
        fits = {}
        for rel in relations:
            a = np.asarray([e.relation == rel for e in calib])
            b = np.asarray([e.relation == rel for e in test_rows])
            if b.any():
                fits[rel] = LinearStack.fit(z_calib[a].reshape(-1, 1), y[a], ["logit"])
                out[b] = fits[rel].logits(z_test[b].reshape(-1, 1))
        return out.tolist(), fits
    if kind == "logprob-only":
        # no encoder: fitted on every judged training row (nothing of theirs was learnt from before)
        x, names = columns(train_rows, False)
        model = LinearStack.fit(x, np.asarray([int(e.acceptable) for e in train_rows]), names)
        return model.logits(columns(test_rows, False)[0]).tolist(), model
    x, names = columns(calib, True)
    model = LinearStack.fit(x, y, names)
    return model.logits(columns(test_rows, True)[0]).tolist(), model


_TEACHER: list[Any] = []
#: `--teacher-cache`: a JSON file of the contrast prompt's scores, read before and written after (None: none)
TEACHER_CACHE: list[Path] = []


def teacher_columns() -> tuple[tuple[str, ...], Any]:
    """The teacher-scores-the-triple columns (`critic_teacher.TeacherColumns`) over the bundled SmolLM2,
    loaded once; their scores of the contrast prompt are kept across variants (the speed is measured with a
    fresh one)."""
    from skd.ingest.critic_teacher import TeacherColumns, TeacherScorer

    if not _TEACHER:
        from skd.core.settings import Settings

        _TEACHER.append(TeacherScorer.load(Settings().models_dir, "smollm2"))
    # the judged rows' recorded log-probabilities stand for the teacher's prompt scored again (checked on a
    # few rows by `teacher_check`), so their plain triples need only the contrast prompt
    known = {(t.head, t.relation, t.tail): t.provenance["logprob"] for t in speed_items()}
    columns = TeacherColumns(_TEACHER[0], known)
    if TEACHER_CACHE and TEACHER_CACHE[0].exists():
        columns.add_contrast_scores(json.loads(TEACHER_CACHE[0].read_text(encoding="utf-8")))
    _TEACHER.append(columns)  # written to the cache at the end
    return columns.names, columns


def save_teacher_cache() -> None:
    if TEACHER_CACHE and len(_TEACHER) > 1:
        scores: dict[str, Any] = {}
        for columns in _TEACHER[1:]:
            scores.update(columns.contrast_scores())
        TEACHER_CACHE[0].write_text(json.dumps(scores) + "\n", encoding="utf-8")


def teacher_check(n: int = 16) -> float:
    """The largest difference between the teacher's prompt scored again and the log-probability the teacher
    recorded when it wrote the tail, over n judged rows."""
    items = speed_items()[:: len(speed_items()) // n][:n]
    got = _TEACHER[0].conditional([(t.head, t.relation, t.tail) for t in items])
    return max(abs(lp - t.provenance["logprob"]) for (lp, _), t in zip(got, items, strict=True))


def teacher_speed(critic: Critic, items: list[Any], n: int = 128) -> dict[str, float]:
    """Triples/s of a critic whose stack reads the teacher's scores, on `n` teacher triples (their own
    log-probability recorded: the contrast prompt is scored) and on n / 4 plain ones (the teacher's prompt too),
    with a fresh cache of contrast scores."""
    from skd.ingest.critic_teacher import TeacherColumns

    out = {}
    for what, part in (
        ("teacher_output", items[:n]),
        ("plain_triples", [(t.head, t.relation, t.tail) for t in items[n : n + n // 4]]),
    ):
        columns = TeacherColumns(_TEACHER[0])
        critic.extra_columns = (columns.names, columns)
        start = time.perf_counter()
        critic.score(part, batch_size=64)
        out[what] = round(len(part) / (time.perf_counter() - start), 2)
    return out


def run_variant(
    name: str, spec: dict[str, Any], sources: dict[str, list[Path]], test: Path, work: Path, encoder: str
) -> tuple[dict[str, Any], Critic]:
    """Train one variant, score the held-out judgments (Triples with the teacher's log-probability)."""
    kwargs = {k: spec[k] for k in TRAIN_KEYS if k in spec}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    extra = teacher_columns() if spec.get("teacher") else None
    critic = train_critic(
        sources[spec["sources"]], work / f"critic-{name.replace(' ', '_')}", encoder=encoder, seed=0,
        progress=_report, extra_columns=extra, **kwargs,
    )  # fmt: skip
    train_s = time.perf_counter() - started
    labels = read_labels(test)
    y = [int(e.acceptable) for e in labels]
    if "post" in spec:
        train_rows = read_labels(sources["judged"][0])
        scores, _ = _post(spec["post"], critic, train_rows, labels)
    else:
        scores = critic.score([e.scored for e in labels], batch_size=64)
    out: dict[str, Any] = {
        "sources": spec["sources"],
        **{k: v for k, v in kwargs.items()},
        **({"post": spec["post"]} if "post" in spec else {}),
        "features": critic.config.features,
        **_figures(y, scores),
        "train_seconds": round(train_s, 1),
        "load_average_1m_training": round(max(load_before, os.getloadavg()[0]), 2),
    }
    if not spec.get("post"):
        out["roc_auc_without_logprob"] = round(metrics(y, critic.score([e.item for e in labels]))["roc_auc"], 4)
    return out, critic


def judged_section(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """The critic on judged teacher output of held-out events, trained as `args.judged_sources` says with
    `train_critic`'s defaults; with `--variants`, each variant beside it, and speeds as ratios to `pair`."""
    sources, test, held = judged_split(work, args.test_fraction)
    names = [v for v in args.variants.split(",") if v] if args.variants != "all" else list(VARIANTS)
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    started = time.perf_counter()
    critic = train_critic(
        sources[args.judged_sources], work / "judged-critic", encoder=args.encoder, mode=args.mode, seed=0,
        progress=_report,
    )  # fmt: skip
    train_s = time.perf_counter() - started
    labels = read_labels(test)
    y = [int(e.acceptable) for e in labels]
    items = [e.scored for e in labels]
    started = time.perf_counter()
    scores = critic.score(items, batch_size=64)
    per_second = len(items) / (time.perf_counter() - started)
    levels = {
        k: {"promised_precision": v["precision"], **at_cutoff(y, scores, v["cutoff"])}
        for k, v in critic.config.levels.items()
    }
    result: dict[str, Any] = {
        "sources": args.judged_sources,
        "features": critic.config.features,
        "test_events": len(held),
        "test_labels": len(labels),
        "test_acceptable": sum(y),
        **_figures(y, scores),
        "levels": levels,
        "calibration": critic.config.calibration,
        "train_seconds": round(train_s, 1),
        "triples_per_second_batch_64": round(per_second, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "aims": JUDGED_AIMS,
    }
    if not names:
        return result
    speed = speed_items()
    variants: dict[str, dict[str, Any]] = {}
    critics: dict[str, Critic] = {}
    for name in names:
        print(f"{time.strftime('%H:%M:%S')} variant {name}", file=sys.stderr, flush=True)
        variants[name], critics[name] = run_variant(name, VARIANTS[name], sources, test, work, args.encoder)
        print(json.dumps({name: variants[name]}), file=sys.stderr, flush=True)
    # speed: each variant's critic against the plain pair critic, interleaved, so a busy machine slows both
    baseline = critics.get("pair") or critic
    for name, c in critics.items():
        if VARIANTS[name].get("post") == "logprob-only":
            continue  # no encoder: a dot product per triple
        if VARIANTS[name].get("teacher"):  # a forward pass of the teacher per triple: a subset is enough
            speeds = teacher_speed(c, speed)
            variants[name]["teacher_prompt_max_difference_to_recorded_logprob"] = round(teacher_check(), 5)
            variants[name]["triples_per_second_batch_64"] = speeds["teacher_output"]
            variants[name]["triples_per_second_without_logprob"] = speeds["plain_triples"]
            variants[name]["load_average_1m_speed"] = round(os.getloadavg()[0], 2)
            continue
        own, base = [], []
        for _ in range(2):
            own.append(throughput(c, speed, 64))
            base.append(throughput(baseline, speed, 64))
        variants[name]["triples_per_second_batch_64"] = round(max(own), 1)
        variants[name]["speed_ratio_to_pair"] = round(max(own) / max(base), 3)
        variants[name]["load_average_1m_speed"] = round(os.getloadavg()[0], 2)
    save_teacher_cache()
    result["variants"] = variants
    result["speed_set"] = {"triples": len(speed), "events": len({t.head for t in speed})}
    return result


def throughput(critic: Critic, items: list[Any], batch_size: int) -> float:
    critic.score(items[:batch_size], batch_size=batch_size)  # warm-up: first calls allocate
    start = time.perf_counter()
    critic.score(items, batch_size=batch_size)
    return len(items) / (time.perf_counter() - start)


_last_tenth: dict[str, int] = {}


def _report(what: str, done: int, total: int) -> None:
    """A line on stderr every tenth of each stage, so a long CPU run shows where it is."""
    tenth = 10 * done // max(1, total)
    if _last_tenth.get(what) != tenth:
        _last_tenth[what] = tenth
        print(f"{time.strftime('%H:%M:%S')} {what}: {done}/{total}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=Path, default=SAMPLE)
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    ap.add_argument("--mode", default=DEFAULT_MODE, choices=list(MODES))
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument(
        "--train-negatives",
        type=float,
        default=NEGATIVES_PER_POSITIVE,
        help="weak negatives per positive in the training labels (the test labels keep one)",
    )
    ap.add_argument(
        "--encoder-layers",
        type=int,
        default=None,
        help="layers of the encoder to keep (0: all; default: train_critic's, half of them in pair mode)",
    )
    ap.add_argument("--speed-triples", type=int, default=2000)
    ap.add_argument("--lines", type=int, default=None, help="use only the sample's first N lines (quick runs)")
    ap.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch CPU threads (default: every core; the encoder's matmuls use them all)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--judged-sources", choices=["judged", "weak", "weak+judged"], default="weak+judged")
    ap.add_argument("--skip-weak", action="store_true", help="only the judged section")
    ap.add_argument(
        "--teacher-cache",
        type=Path,
        default=None,
        help="JSON file of the teacher's contrast-prompt scores (teacher variants): read if there, written after",
    )
    ap.add_argument(
        "--keep-earlier",
        action="store_true",
        help="keep the variants of the results file that this run does not measure (marked as earlier)",
    )
    ap.add_argument(
        "--variants",
        default="",
        help=f"judged section: also these variants, comma-separated, or `all` ({', '.join(VARIANTS)})",
    )
    args = ap.parse_args()
    torch.set_num_threads(max(1, args.threads))
    if args.teacher_cache:
        TEACHER_CACHE.append(args.teacher_cache)

    work = Path(tempfile.mkdtemp(prefix="bench-critic-"))
    judged = judged_section(args, work)
    if args.keep_earlier and args.out.exists():
        earlier = json.loads(args.out.read_text(encoding="utf-8")).get("judged", {}).get("variants", {})
        measured = cast(dict[str, Any], judged.setdefault("variants", {}))
        for name, figures in earlier.items():
            if name not in measured:
                measured[name] = {**figures, "measured_in_an_earlier_run": True}
    print(json.dumps({"judged": judged}, indent=2), flush=True)
    if args.skip_weak:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"judged": judged}, indent=2) + "\n", encoding="utf-8")
        return
    sample = args.sample
    if args.lines:
        sample = work / "sample.tsv"
        head_lines = args.sample.read_text(encoding="utf-8").splitlines(True)[: args.lines]
        sample.write_text("".join(head_lines), encoding="utf-8")
    # the test labels: one negative per positive, the same rows and held-out events as every earlier run
    counts = bootstrap_labels(sample, work / "weak.jsonl", seed=0, negatives_per_positive=1)
    _, test = split_by_event(read_labels(work / "weak.jsonl"), args.test_fraction, seed=123)
    held_out = {e.event for e in test}
    # the training labels: made the default way, without any held-out event
    train_counts = bootstrap_labels(
        sample, work / "train-weak.jsonl", seed=0, negatives_per_positive=args.train_negatives
    )
    train_rows = [e for e in read_labels(work / "train-weak.jsonl") if e.event not in held_out]

    started = time.perf_counter()
    critic = train_critic(
        train_rows,
        work / "critic",
        encoder=args.encoder,
        mode=args.mode,
        epochs=args.epochs,
        seed=0,
        progress=_report,
        encoder_layers=args.encoder_layers,
    )
    train_s = time.perf_counter() - started

    y = [int(e.acceptable) for e in test]
    started = time.perf_counter()
    scores = critic.score([e.item for e in test], batch_size=128)
    test_s = time.perf_counter() - started
    held = metrics(y, scores)
    levels = {
        k: {**at_cutoff(y, scores, v["cutoff"]), "validation_precision": v["precision"]}
        for k, v in critic.config.levels.items()
    }
    by_kind: dict[str, float] = {}
    weak = [json.loads(x) for x in (work / "weak.jsonl").read_text(encoding="utf-8").splitlines()]
    kind_of = {(r["head"], r["relation"], r["tail"]): r["weak"] for r in weak}
    test_kinds = [kind_of.get(e.item, "positive") for e in test]
    pos_scores = [s for s, k in zip(scores, test_kinds, strict=True) if k == "positive"]
    for kind in sorted(set(test_kinds) - {"positive"}):
        neg = [s for s, k in zip(scores, test_kinds, strict=True) if k == kind]
        by_kind[kind] = metrics([1] * len(pos_scores) + [0] * len(neg), pos_scores + neg)["roc_auc"]

    lines = [x.split("\t") for x in args.sample.read_text(encoding="utf-8").splitlines()[: args.speed_triples]]
    items = [(h, r, t) for h, r, t in lines]
    # on a CPU that other jobs also use, one thread can beat two (no waiting on a busy core): time both
    thread_counts = sorted({1, max(1, args.threads)})
    speed: dict[str, float] = {}
    for threads in thread_counts:
        torch.set_num_threads(threads)
        for bs in (64, 128):
            speed[f"threads_{threads}_batch_{bs}"] = round(throughput(critic, items, bs), 1)
    torch.set_num_threads(max(1, args.threads))
    best = max(speed.values())

    result = {
        "judged": judged,
        "encoder": args.encoder,
        "mode": args.mode,
        "sample_lines": args.lines or "all",
        "device": str(critic.device),
        "torch_threads_training": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "weak_labels": counts.to_json() | {"out": None},
        "train_weak_labels": train_counts.to_json() | {"out": None},
        "encoder_layers": critic.config.encoder_layers,
        "train_examples": len(train_rows),
        "test_examples": len(test),
        "test_events": len({e.event for e in test}),
        "heldout_roc_auc": round(held["roc_auc"], 4),
        "heldout_average_precision": round(held["average_precision"], 4),
        "heldout_roc_auc_by_negative_kind": {k: round(v, 4) for k, v in by_kind.items()},
        "validation_roc_auc": round(critic.config.metrics["roc_auc"], 4),
        "heldout_levels": levels,
        "train_seconds": round(train_s, 1),
        "test_scoring_seconds": round(test_s, 1),
        "speed_set": {"triples": len(items), "events": len({h for h, _, _ in items})},
        "triples_per_second": speed,
        "best_triples_per_second": best,
        "aims": AIMS,
        "meets": {
            "triples_per_second": best >= AIMS["triples_per_second"],
            "heldout_roc_auc": held["roc_auc"] >= AIMS["heldout_roc_auc"],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
