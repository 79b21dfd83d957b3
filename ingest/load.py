"""Loading triples files into the graph: batched, resumable, and never half-writing a batch.

Each batch is one transaction, and every write is a MERGE that unions provenance, so loading a
file again changes nothing. A checkpoint records, per file, the last line whose batch committed;
a load killed at any moment (SIGKILL included) and run again skips what was committed and ends
with exactly the graph an uninterrupted load makes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from skd.core.errors import InputError
from skd.core.files import write_json
from skd.graph_schema.store import GraphStore
from skd.graph_schema.triples_io import LineError, read_triples, triple_files

#: progress(path, lines_done_in_file, lines_in_file, triples_loaded_so_far)
Progress = Callable[[Path, int, int, int], None]


@dataclass
class LoadReport:
    files: list[str] = field(default_factory=list)
    triples: int = 0
    resumed_from: dict[str, int] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "files": self.files,
            "triples": self.triples,
            "resumed_from": self.resumed_from,
            "bad_lines": len(self.errors),
            "errors": [str(e) for e in self.errors[:100]],
        }


def count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


class Checkpoint:
    """The last committed line of one file's load, kept in a small JSON file written atomically."""

    def __init__(self, folder: Path, path: Path, source: str | None) -> None:
        stat = path.stat()
        ident = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{source}"
        self.path = folder / f"{hashlib.sha256(ident.encode()).hexdigest()[:24]}.json"

    def line(self) -> int:
        try:
            return int(json.loads(self.path.read_text())["line"])
        except (OSError, ValueError, KeyError):
            return 0

    def save(self, line: int) -> None:
        write_json(self.path, {"line": line}, indent=None)

    def done(self) -> None:
        self.path.unlink(missing_ok=True)


def _validate(files: list[Path], source: str | None) -> None:
    """Strict mode reads everything first, so a bad line stops the load before anything is written."""
    for path in files:
        for _ in read_triples(path, source=source, strict=True):
            pass


def load_path(
    store: GraphStore,
    path: Path,
    *,
    checkpoints: Path,
    source: str | None = None,
    strict: bool = False,
    resume: bool = True,
    progress: Progress | None = None,
) -> LoadReport:
    """Load a TSV/JSONL file or a folder of them (a run folder's `triples*.jsonl` shards) into the graph.

    Bad lines are reported with file and line number and skipped; with `strict` the first one
    raises InputError and nothing is written.
    """
    files = triple_files(path)
    if strict:
        _validate(files, source)
    report = LoadReport(files=[str(f) for f in files])
    for file in files:
        total = count_lines(file)
        checkpoint = Checkpoint(checkpoints, file, source)
        start = checkpoint.line() if resume else 0
        if start:
            report.resumed_from[str(file)] = start
        batch, last_line = [], start
        if progress:
            progress(file, start, total, report.triples)
        for item in read_triples(file, source=source, errors=report.errors, start_line=start):
            batch.append(item.triple)
            last_line = item.line
            if len(batch) >= store.batch_size:
                report.triples += store.upsert(batch)
                checkpoint.save(last_line)
                batch = []
                if progress:
                    progress(file, last_line, total, report.triples)
        report.triples += store.upsert(batch)
        checkpoint.done()
        if progress:
            progress(file, total, total, report.triples)
    if not report.files:
        raise InputError(f"{path}: nothing to load")
    return report
