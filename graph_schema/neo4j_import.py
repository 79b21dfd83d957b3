"""The graph as `neo4j-admin database import full` reads it: node and relationship CSV files.

Triples are merged exactly as the online load merges them (one node per key with the smallest text
among its spellings; one relationship per triple; the last score given wins; provenance lists are
unioned in first-seen order; the first non-empty label list is kept), so a bulk first load and an
online load of the same files give the same graph.
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from skd.core.files import atomic_write
from skd.graph_schema.records import Triple
from skd.graph_schema.relations import get_relation

#: between the items of a list property; a control character no text of ours contains
ARRAY_DELIMITER = "\x1f"
EVENT_HEADER = ["key:ID(Event)", "text"]
INFERENCE_HEADER = ["key:ID(Inference)", "text"]
RELATIONSHIP_HEADER = [
    ":START_ID(Event)",
    ":END_ID(Inference)",
    "score:double",
    "sources:string[]",
    "runs:string[]",
    "teachers:string[]",
    "prompts:string[]",
    "labels:int[]",
    "created_at:long",
]
_LISTS = ("sources", "runs", "teachers", "prompts")


@dataclass
class ImportFiles:
    """The CSV files of one import, by node label and relationship type, and what they hold."""

    folder: Path
    nodes: dict[str, Path] = field(default_factory=dict)
    relationships: dict[str, Path] = field(default_factory=dict)
    events: int = 0
    inferences: int = 0
    triples: int = 0

    def admin_args(self, database: str) -> list[str]:
        """The `neo4j-admin` arguments that import these files into `database` (which must be stopped)."""
        args = ["database", "import", "full", database, "--overwrite-destination=true"]
        args += [f"--nodes={label}={path.resolve()}" for label, path in self.nodes.items()]
        args += [f"--relationships={rel}={path.resolve()}" for rel, path in self.relationships.items()]
        return [*args, f"--array-delimiter={ARRAY_DELIMITER}", "--report-file=" + str(self.folder / "import.report")]


class ImportBuilder:
    """Collects triples, merged as the online load merges them, and writes the CSV files."""

    def __init__(self) -> None:
        self.events: dict[str, str] = {}
        self.inferences: dict[str, str] = {}
        # (head key, relationship type, tail key) -> [score, sources, runs, teachers, prompts, labels]
        self.rows: dict[tuple[str, str, str], list[object]] = {}
        self._tuples: dict[tuple[str, ...], tuple[str, ...]] = {}  # one copy of each provenance list

    def _shared(self, items: Iterable[str]) -> tuple[str, ...]:
        t = tuple(dict.fromkeys(items))
        return self._tuples.setdefault(t, t)

    def add(self, t: Triple) -> None:
        hk, rel, tk = t.key
        if hk not in self.events or t.head < self.events[hk]:
            self.events[hk] = t.head
        if tk not in self.inferences or t.tail < self.inferences[tk]:
            self.inferences[tk] = t.tail
        key = (hk, get_relation(rel).rel_type, tk)
        row = self.rows.get(key)
        if row is None:
            self.rows[key] = [t.score, *(self._shared(getattr(t, n)) for n in _LISTS), tuple(t.labels)]
            return
        if t.score is not None:
            row[0] = t.score
        for i, name in enumerate(_LISTS, start=1):
            more = getattr(t, name)
            if more:
                row[i] = self._shared([*row[i], *more])  # type: ignore[misc]
        if not row[5]:
            row[5] = tuple(t.labels)

    def add_all(self, triples: Iterable[Triple]) -> int:
        n = 0
        for t in triples:
            self.add(t)
            n += 1
        return n

    def write(self, folder: Path) -> ImportFiles:
        """Write `events.csv`, `inferences.csv` and one `rel-<TYPE>.csv` per relationship type into `folder`."""
        files = ImportFiles(folder)
        for label, header, nodes in (
            ("Event", EVENT_HEADER, self.events),
            ("Inference", INFERENCE_HEADER, self.inferences),
        ):
            path = folder / f"{label.lower()}s.csv"
            with atomic_write(path) as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(header)
                w.writerows(nodes.items())
            files.nodes[label] = path
        files.events, files.inferences = len(self.events), len(self.inferences)
        by_type: dict[str, list[tuple[str, str, list[object]]]] = defaultdict(list)
        for (hk, rel_type, tk), row in self.rows.items():
            by_type[rel_type].append((hk, tk, row))
        now = str(int(time.time() * 1000))
        for rel_type in sorted(by_type):
            path = folder / f"rel-{rel_type}.csv"
            with atomic_write(path) as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(RELATIONSHIP_HEADER)
                for hk, tk, (score, *lists) in by_type[rel_type]:
                    arrays = [ARRAY_DELIMITER.join(str(x) for x in items) for items in lists]  # type: ignore[attr-defined]
                    w.writerow([hk, tk, "" if score is None else repr(float(score)), *arrays, now])  # type: ignore[arg-type]
            files.relationships[rel_type] = path
            files.triples += len(by_type[rel_type])
        return files
