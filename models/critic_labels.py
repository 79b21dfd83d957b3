"""Acceptability labels for the critic: reading human labels, and weak labels bootstrapped from a human graph.

Labels follow the paper's scale: 2 and 1 acceptable, -1 and -2 not, -9 skip (the annotator could not
judge); a boolean works too. A row may carry one `label` or a `labels` list (several annotators, or
labels exported from the graph): the mean of its non-skip labels decides, and a tie is skipped.

Weak labels (`bootstrap_labels`) are a stand-in when nobody has labelled anything yet: every real tail of
a human-written graph is a positive, and negatives are corruptions of it. They teach the critic to
spot tails that belong to another relation or event, copies of the event and broken text; they say
nothing about the subtler errors a teacher makes, so a critic trained on them is weaker than one
trained on human judgments of the teacher's own output.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skd.core.errors import InputError
from skd.core.files import atomic_write
from skd.core.labels import SKIP, label_value
from skd.graph_schema.records import Triple, triple_from_json
from skd.graph_schema.text import clean_text, is_none_tail, text_key
from skd.graph_schema.triples_io import LineError, read_triples
from skd.models.critic_stack import item_logprob

#: The corruptions that make weak negatives, and their default shares.
NEGATIVE_KINDS: dict[str, float] = {"other_relation": 0.35, "other_event": 0.35, "event_copy": 0.1, "degenerate": 0.2}
#: Weak negatives made per positive by default: three gave a pair critic a held-out ROC-AUC 0.011 higher than
#: one (the corruptions are cheap and varied; more of them show the head more of what does not fit).
NEGATIVES_PER_POSITIVE = 3.0


@dataclass(frozen=True, slots=True)
class LabeledTriple:
    """A triple and whether it is acceptable."""

    head: str
    relation: str
    tail: str
    acceptable: bool
    #: a weak label (a human-written row or a corruption of one), not a judgment of generated text
    weak: bool = False
    #: the teacher's log-probability of the tail (sum over its tokens), when the row records one
    logprob: float | None = None
    #: the teacher that wrote the tail, when the row says
    teacher: str | None = None

    @property
    def event(self) -> str:
        """The event's node key: splits are made by it so no event is in two splits."""
        return text_key(self.head)

    @property
    def item(self) -> tuple[str, str, str]:
        return (self.head, self.relation, self.tail)

    @property
    def scored(self) -> tuple[str, str, str] | Triple:
        """What the critic scores for this row: a `Triple` carrying the teacher's log-probability (and
        the teacher) where the row records one, else the plain `item`."""
        if self.logprob is None:
            return self.item
        return Triple(
            self.head,
            self.relation,
            self.tail,
            sources=["teacher"],
            teachers=[self.teacher] if self.teacher else [],
            provenance={"logprob": self.logprob},
        )


def _one(value: Any) -> int:
    return label_value(value)


def decide(values: Sequence[Any]) -> bool | None:
    """Acceptable (True), not (False) or undecided (None: only skips, or a tie) from one or more labels."""
    judged = [v for v in (_one(x) for x in values) if v != SKIP]
    if not judged:
        return None
    mean = sum(judged) / len(judged)
    return None if mean == 0 else mean > 0


def label_of_row(obj: dict[str, Any]) -> tuple[Triple, bool | None]:
    """The triple of a JSONL row and its decided label; a row with no label raises InputError."""
    triple = triple_from_json(obj)
    labels = obj.get("labels")
    if labels not in (None, []):
        values = labels if isinstance(labels, list) else [labels]
    elif "label" in obj and obj["label"] is not None:
        values = [obj["label"]]
    else:
        raise InputError("no `label` or `labels` field")
    return triple, decide(values)


def _rows_of_file(path: Path, errors: list[LineError] | None, strict: bool) -> Iterable[tuple[int, Any]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from e
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as e:
                err = LineError(str(path), number, f"invalid JSON: {e.msg}")
                if strict:
                    raise InputError(str(err)) from e
                if errors is not None:
                    errors.append(err)


def read_labels(
    source: str | Path | Iterable[dict[str, Any] | Triple], errors: list[LineError] | None = None, strict: bool = False
) -> list[LabeledTriple]:
    """Labelled triples from a JSONL file or from rows (dicts or `Triple`s with `labels`).

    Rows that are skipped (-9 only, or a tie) are left out; bad rows are recorded in `errors` (or raise,
    with `strict`). Acceptable rows come from `label`/`labels` as described in the module docstring.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        if path.suffix.lower() not in (".jsonl", ".json", ".ndjson"):
            raise InputError(f"{path}: labels must be a JSONL file of {{head, relation, tail, label}} rows")
        where = str(path)
        rows: Iterable[tuple[int, Any]] = _rows_of_file(path, errors, strict)
    else:
        where = "rows"
        rows = enumerate(source, start=1)
    out: list[LabeledTriple] = []
    for number, row in rows:
        try:
            if isinstance(row, Triple):
                if not row.labels:
                    raise InputError("triple has no labels")
                triple, ok = row, decide(row.labels)
            else:
                triple, ok = label_of_row(row)
        except InputError as e:
            err = LineError(where, number, str(e))
            if strict:
                raise InputError(str(err)) from e
            if errors is not None:
                errors.append(err)
            continue
        if ok is not None:
            weak = isinstance(row, dict) and row.get("weak") is not None
            logprob, teachers = item_logprob(row)  # `logprob`, or `provenance.logprob` as teacher runs write it
            teacher = teachers[0] if teachers else (triple.teachers[0] if triple.teachers else None)
            out.append(LabeledTriple(triple.head, triple.relation, triple.tail, ok, weak, logprob, teacher))
    return out


def split_by_event(
    examples: Sequence[LabeledTriple], fraction: float, seed: int = 0
) -> tuple[list[LabeledTriple], list[LabeledTriple]]:
    """Split into (rest, held-out) with about `fraction` of the events held out, whole events only."""
    if not 0.0 < fraction < 1.0:
        raise InputError(f"split fraction must be between 0 and 1, got {fraction}")
    events = sorted({e.event for e in examples})
    if len(events) < 2:
        raise InputError(f"a split by event needs at least 2 events, got {len(events)}")
    random.Random(seed).shuffle(events)
    n_held = min(len(events) - 1, max(1, round(fraction * len(events))))
    held = set(events[:n_held])
    return [e for e in examples if e.event not in held], [e for e in examples if e.event in held]


# -- weak labels ----------------------------------------------------------------------------------------
@dataclass
class BootstrapCounts:
    """What `bootstrap_labels` wrote."""

    events: int = 0
    positives: int = 0
    negatives: dict[str, int] = field(default_factory=lambda: dict.fromkeys(NEGATIVE_KINDS, 0))
    none_tails_skipped: int = 0
    bad_lines: int = 0
    out: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "positives": self.positives,
            "negatives": dict(self.negatives),
            "negatives_total": sum(self.negatives.values()),
            "none_tails_skipped": self.none_tails_skipped,
            "bad_lines": self.bad_lines,
            "out": self.out,
        }


def _degenerate(tail: str, rng: random.Random) -> str:
    words = tail.split()
    options = [
        " ".join([words[0]] * rng.randint(3, 5)),  # a stuck decoder repeating itself
        f"{tail} {tail}",
        words[0] if len(words) > 1 else f"{tail} {tail} {tail}",  # cut off after one word
    ]
    if len(words) >= 3:
        shuffled = words[:]
        while shuffled == words:
            rng.shuffle(shuffled)
        options.append(" ".join(shuffled))
    return rng.choice(options)


def _event_copy(head: str, rng: random.Random) -> str:
    words = head.split()
    if len(words) > 2 and words[0] in ("PersonX", "PersonY") and rng.random() < 0.5:
        return " ".join(words[1:])  # "buys a car" from "PersonX buys a car"
    return head


class _Corruptor:
    """Makes negatives for the triples of one graph without ever producing one of its real triples."""

    def __init__(self, by_event: dict[str, dict[str, list[str]]], heads: dict[str, str], rng: random.Random) -> None:
        self.by_event, self.heads, self.rng = by_event, heads, rng
        self.real = {(ev, rel, text_key(t)) for ev, rels in by_event.items() for rel, ts in rels.items() for t in ts}
        self.pool: dict[str, list[tuple[str, str]]] = defaultdict(list)  # relation -> (event, tail)
        for ev, rels in by_event.items():
            for rel, ts in rels.items():
                self.pool[rel].extend((ev, t) for t in ts)
        self.all_tails = [(ev, t) for ev, rels in by_event.items() for ts in rels.values() for t in ts]
        self.made: set[tuple[str, str, str]] = set()

    def make(self, kind: str, event: str, relation: str, tail: str) -> str | None:
        rng = self.rng
        if kind == "other_relation":
            others = [t for rel, ts in self.by_event[event].items() if rel != relation for t in ts]
            candidate = rng.choice(others) if others else None
        elif kind == "other_event":
            pool = self.pool[relation] if len(self.pool[relation]) > 1 else self.all_tails
            candidate = None
            for _ in range(10):
                ev, t = rng.choice(pool)
                if ev != event:
                    candidate = t
                    break
        elif kind == "event_copy":
            candidate = _event_copy(self.heads[event], rng)
        else:
            candidate = _degenerate(tail, rng)
        candidate = clean_text(candidate) if candidate else None
        key = (event, relation, text_key(candidate or ""))
        if not candidate or key in self.real or key in self.made:
            return None
        self.made.add(key)  # the same negative twice would only weigh it double
        return candidate


def bootstrap_labels(
    tsv_path: str | Path,
    out_path: str | Path,
    seed: int = 0,
    negatives_per_positive: float = NEGATIVES_PER_POSITIVE,
    kinds: dict[str, float] | None = None,
    relations: Sequence[str] | None = None,
) -> BootstrapCounts:
    """Write weak labels built from a human-written graph (ATOMIC 2020 TSV, or our JSONL) to a JSONL file.

    Positives (label 1) are its tails, `none` excluded. For each positive, about `negatives_per_positive`
    negatives (label -1) of the same relation and event are made by corruption, mixed by `kinds`
    (default NEGATIVE_KINDS): a tail of another relation of the same event, a tail of the same relation
    from a random other event, the event copied, or degenerate text. Each row says how it was made
    (`weak`). The file appears whole (written to a temporary name, then renamed).
    """
    mix = dict(kinds or NEGATIVE_KINDS)
    unknown = set(mix) - set(NEGATIVE_KINDS)
    if unknown:
        raise InputError(f"unknown negative kind(s) {sorted(unknown)}; known: {sorted(NEGATIVE_KINDS)}")
    if negatives_per_positive < 0:
        raise InputError("negatives per positive must not be negative")
    wanted = {r.lower() for r in relations} if relations else None
    rng = random.Random(seed)
    counts = BootstrapCounts(negatives=dict.fromkeys(mix, 0))
    errors: list[LineError] = []
    by_event: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    heads: dict[str, str] = {}
    seen: set[tuple[str, str, str]] = set()
    for numbered in read_triples(Path(tsv_path), errors=errors):
        t = numbered.triple
        if wanted and t.relation.lower() not in wanted:
            continue
        if is_none_tail(t.tail):
            counts.none_tails_skipped += 1
            continue
        if t.key in seen:
            continue
        seen.add(t.key)
        heads.setdefault(t.key[0], t.head)
        by_event[t.key[0]][t.relation].append(t.tail)
    counts.bad_lines = len(errors)
    if not by_event:
        raise InputError(f"{tsv_path}: no usable triples to bootstrap labels from")
    corruptor = _Corruptor(by_event, heads, rng)
    names, weights = list(mix), list(mix.values())

    out = Path(out_path)
    with atomic_write(out) as fh:

        def write(head: str, relation: str, tail: str, label: int, weak: str) -> None:
            row = {"head": head, "relation": relation, "tail": tail, "label": label, "weak": weak}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")

        for event, rels in by_event.items():
            counts.events += 1
            for relation, tails in rels.items():
                for tail in tails:
                    write(heads[event], relation, tail, 1, "positive")
                    counts.positives += 1
                    n = int(negatives_per_positive) + (rng.random() < negatives_per_positive % 1)
                    for _ in range(n):
                        first = rng.choices(names, weights)[0]
                        # a kind that cannot apply here (one relation only, say) gives way to the others
                        for kind in [first, *(rng.sample(names, len(names)) * 3)]:
                            negative = corruptor.make(kind, event, relation, tail)
                            if negative:
                                write(heads[event], relation, negative, -1, kind)
                                counts.negatives[kind] += 1
                                break
    counts.out = str(out)
    return counts
