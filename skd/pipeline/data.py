"""The pipeline's data files: held-out evaluation events and the human graph the critic's weak labels come from."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from skd.core.errors import InputError
from skd.core.files import atomic_write
from skd.graph_schema.records import Triple
from skd.graph_schema.text import is_none_tail, text_key
from skd.graph_schema.triples_io import LineError, read_triples, triple_files, write_tsv

__all__ = ["event_rank", "read_graph", "split_heldout", "take_events", "write_triples_tsv"]


def event_rank(key: str, seed: int) -> str:
    """A fixed pseudo-random order of events: the same events are chosen on every machine and every rerun."""
    return hashlib.sha256(f"{seed}\t{key}".encode()).hexdigest()


def read_graph(path: Path, relations: Sequence[str]) -> list[Triple]:
    """The triples of a human-written graph (TSV or JSONL, a file or a folder) for `relations`."""
    wanted = set(relations)
    errors: list[LineError] = []
    triples = [
        n.triple for f in triple_files(path) for n in read_triples(f, errors=errors) if n.triple.relation in wanted
    ]
    if not triples:
        bad = f" ({len(errors)} bad lines, first: {errors[0]})" if errors else ""
        raise InputError(f"{path}: no triples of the relations {', '.join(relations)}{bad}")
    return triples


def take_events(triples: Iterable[Triple], n: int | None, seed: int) -> list[Triple]:
    """The triples of the first `n` events in `event_rank` order (all of them when `n` is None)."""
    rows = list(triples)
    if n is None:
        return rows
    keys = sorted({text_key(t.head) for t in rows}, key=lambda k: event_rank(k, seed))[:n]
    chosen = set(keys)
    return [t for t in rows if text_key(t.head) in chosen]


def split_heldout(triples: Sequence[Triple], n_events: int, seed: int) -> tuple[list[Triple], list[Triple]]:
    """(rest, held out): `n_events` events with at least one real (non-`none`) tail, held out whole."""
    usable = sorted({text_key(t.head) for t in triples if not is_none_tail(t.tail)}, key=lambda k: event_rank(k, seed))
    if len(usable) < 2:
        raise InputError(f"need at least 2 events with real tails to hold some out, found {len(usable)}")
    held = set(usable[: min(n_events, len(usable) - 1)])
    return ([t for t in triples if text_key(t.head) not in held], [t for t in triples if text_key(t.head) in held])


def write_triples_tsv(triples: Iterable[Triple], path: Path) -> int:
    """ATOMIC's own layout, head<TAB>relation<TAB>tail, written whole (a temporary name, then renamed)."""
    with atomic_write(path) as fh:
        return write_tsv(triples, fh)
