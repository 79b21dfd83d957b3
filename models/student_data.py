"""Turning triples into the student's training examples: the prompt format, score filters and the event split."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from skd.core.errors import InputError
from skd.graph_schema.records import Triple, triple_from_json
from skd.graph_schema.relations import get_relation
from skd.graph_schema.text import clean_text, is_none_tail, text_key
from skd.graph_schema.triples_io import LineError, read_triples, triple_files

if TYPE_CHECKING:
    from skd.graph_schema.store import GraphStore
    from skd.models.critic import Critic

__all__ = [
    "FORMAT",
    "Example",
    "apply_critic",
    "prompt_text",
    "read_examples",
    "select_triples",
    "split_by_event",
    "target_text",
    "to_example",
    "triples_from_graph",
    "triples_from_path",
    "write_examples",
]

#: The prompt format a saved student was trained with; stored in its `student.json`.
FORMAT = "phrase-v1"


def prompt_text(event: str, relation: str) -> str:
    """What the student reads: the event and the relation as its fixed phrase, e.g.
    "PersonX buys a car. As a result, PersonX wants". A phrase, not a new special token, so a
    pretrained base needs no new embeddings and already knows how such a sentence goes on."""
    head = clean_text(event)
    if not head:
        raise InputError("empty event")
    return f"{head}. {get_relation(relation).phrase}"


def target_text(inference: str) -> str:
    """What the student learns to write after the prompt (the end-of-sequence token follows)."""
    return " " + clean_text(inference)


@dataclass(frozen=True, slots=True)
class Example:
    """One training example: loss is taken on `target` only."""

    event: str
    relation: str
    prompt: str
    target: str

    def to_json(self) -> dict[str, str]:
        return {"event": self.event, "relation": self.relation, "prompt": self.prompt, "target": self.target}


def to_example(t: Triple) -> Example:
    return Example(t.head, t.relation, prompt_text(t.head, t.relation), target_text(t.tail))


def select_triples(triples: Iterable[Triple], min_score: float | None = None) -> list[Triple]:
    """Keep triples worth learning: not `none`, at or above `min_score` (unscored ones fail a set
    threshold), one copy of each (head, relation, tail) key, in first-seen order."""
    seen: set[tuple[str, str, str]] = set()
    out: list[Triple] = []
    for t in triples:
        if is_none_tail(t.tail) or t.key in seen:
            continue
        if min_score is not None and (t.score is None or t.score < min_score):
            continue
        seen.add(t.key)
        out.append(t)
    return out


def _event_rank(key: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()


def split_by_event(
    triples: Sequence[Triple], val_fraction: float = 0.05, seed: int = 0
) -> tuple[list[Triple], list[Triple]]:
    """Split so that no event has triples on both sides; which events go to validation depends only
    on the event text and the seed, so the split is the same whatever the order of the input."""
    if not 0 <= val_fraction < 1:
        raise InputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    events = sorted({text_key(t.head) for t in triples}, key=lambda k: _event_rank(k, seed))
    n_val = math.ceil(val_fraction * len(events)) if len(events) > 1 and val_fraction > 0 else 0
    val_events = set(events[:n_val])
    train = [t for t in triples if text_key(t.head) not in val_events]
    val = [t for t in triples if text_key(t.head) in val_events]
    return train, val


def triples_from_path(path: Path, errors: list[LineError] | None = None) -> list[Triple]:
    """Every triple of a run folder (its `triples*.jsonl` shards), a TSV/JSONL file or a folder of them."""
    out: list[Triple] = []
    for f in triple_files(Path(path)):
        out.extend(n.triple for n in read_triples(f, errors=errors))
    return out


def triples_from_graph(store: GraphStore, min_score: float | None = None) -> list[Triple]:
    """Every triple the graph holds at or above `min_score` (the store filters, we drop `none`)."""
    return list(store.export(min_score=min_score))


def write_examples(triples: Iterable[Triple], path: Path) -> int:
    """Write triples as JSONL (kept beside a checkpoint so a resumed run reads the very same data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for t in triples:
            fh.write(json.dumps(t.to_json(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_examples(path: Path) -> list[Triple]:
    with path.open(encoding="utf-8") as fh:
        return [triple_from_json(json.loads(line)) for line in fh if line.strip()]


def apply_critic(
    triples: Sequence[Triple], critic: Critic, recall_level: float | None = None
) -> tuple[list[Triple], float]:
    """Keep the triples at or above the critic's cutoff for `recall_level`. Triples the critic has not
    scored yet (a run not passed through `skd critic score`) are scored now; stored scores are kept."""
    cutoff = float(critic.cutoff(recall_level=recall_level))
    missing = [t for t in triples if t.score is None and not is_none_tail(t.tail)]
    if missing:
        for t, s in zip(missing, critic.score(missing), strict=True):
            t.score = float(s)
    return [t for t in triples if t.score is not None and t.score >= cutoff], cutoff
