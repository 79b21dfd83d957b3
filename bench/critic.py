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


def judged_section(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """The critic on judged teacher output of held-out events, trained as `args.judged_sources` says."""
    import random

    from sklearn.metrics import precision_recall_curve

    from skd.graph_schema.text import text_key

    rows = [json.loads(line) for line in JUDGED.read_text(encoding="utf-8").splitlines()]
    events = sorted({text_key(r["head"]) for r in rows})
    random.Random(0).shuffle(events)
    held = set(events[: round(args.test_fraction * len(events))])
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
    sources = {"judged": [rest], "weak": [graph], "weak+judged": [graph, rest]}[args.judged_sources]
    started = time.perf_counter()
    critic = train_critic(
        sources, work / "judged-critic", encoder=args.encoder, mode=args.mode, seed=0, progress=_report
    )
    train_s = time.perf_counter() - started
    labels = read_labels(test)
    y = [int(e.acceptable) for e in labels]
    items = [e.item for e in labels]
    started = time.perf_counter()
    scores = critic.score(items, batch_size=64)
    per_second = len(items) / (time.perf_counter() - started)
    m = metrics(y, scores)
    precision, recall, _ = precision_recall_curve(y, scores)
    at_half = float(max(p for p, r in zip(precision, recall, strict=True) if r >= 0.5))
    levels = {
        k: {"promised_precision": v["precision"], **at_cutoff(y, scores, v["cutoff"])}
        for k, v in critic.config.levels.items()
    }
    return {
        "sources": args.judged_sources,
        "test_events": len(held),
        "test_labels": len(labels),
        "test_acceptable": sum(y),
        "roc_auc": round(m["roc_auc"], 4),
        "average_precision": round(m["average_precision"], 4),
        "precision_at_recall_0_5": round(at_half, 4),
        "levels": levels,
        "calibration": critic.config.calibration,
        "train_seconds": round(train_s, 1),
        "triples_per_second_batch_64": round(per_second, 1),
        "aims": JUDGED_AIMS,
    }


def throughput(critic: Critic, items: list[tuple[str, str, str]], batch_size: int) -> float:
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
    args = ap.parse_args()
    torch.set_num_threads(max(1, args.threads))

    work = Path(tempfile.mkdtemp(prefix="bench-critic-"))
    judged = judged_section(args, work)
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
