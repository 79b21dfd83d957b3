"""Loading triples files into the graph: batched, resumable, and never half-writing a batch.

Each batch is one transaction, and every write is a MERGE that unions provenance, so loading a
file again changes nothing. A checkpoint records, per file, the last line whose batch committed;
a load killed at any moment (SIGKILL included) and run again skips what was committed and ends
with exactly the graph an uninterrupted load makes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from skd.core.errors import InputError
from skd.core.resume import ResumeNote
from skd.graph_schema.store import GraphStore
from skd.graph_schema.triples_io import LineError, read_triples, triple_files
from skd.ingest.run import ACCEPTED_FILE, SCORED_DIR

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
    """The last committed line of one file's load (a `ResumeNote` named after the file, its size, time and
    source, so an edited file starts over)."""

    def __init__(self, folder: Path, path: Path, source: str | None) -> None:
        stat = path.stat()
        ident = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{source}"
        self.note = ResumeNote(folder / f"{hashlib.sha256(ident.encode()).hexdigest()[:24]}.json")

    def line(self) -> int:
        saved = self.note.read()
        return saved["line"] if saved else 0

    def save(self, line: int) -> None:
        self.note.save(line=line)

    def done(self) -> None:
        self.note.clear()


def _validate(files: list[Path], source: str | None) -> None:
    """Strict mode reads everything first, so a bad line stops the load before anything is written."""
    for path in files:
        for _ in read_triples(path, source=source, strict=True):
            pass


def is_run_folder(path: Path) -> bool:
    """A generation run (`config.json`) or a pipeline run (`pipeline-state.json`)."""
    return path.is_dir() and ((path / "config.json").is_file() or (path / "pipeline-state.json").is_file())


def files_to_load(path: Path, everything: bool = False) -> list[Path]:
    """The files `skd load PATH` reads. For a run folder: what the critic accepted (`accepted.jsonl`),
    or with `everything` every teacher triple (the scored shards when there are any); any other file or
    folder is read whole."""
    if not is_run_folder(path):
        return triple_files(path)
    if everything:
        scored = path / SCORED_DIR
        return triple_files(scored) if scored.is_dir() else triple_files(path)
    accepted = path / ACCEPTED_FILE
    if accepted.is_file():
        return [accepted]
    raise InputError(
        f"{path} is a run folder the critic has not filtered yet (no {ACCEPTED_FILE}): run "
        f"`skd critic filter {path} --out {accepted}` first, or load every teacher triple with --all"
    )


def load_path(
    store: GraphStore,
    path: Path,
    *,
    checkpoints: Path,
    source: str | None = None,
    strict: bool = False,
    resume: bool = True,
    progress: Progress | None = None,
    everything: bool = False,
) -> LoadReport:
    """Load a TSV/JSONL file, a folder of them, or a run folder (what its critic accepted, with scores;
    every teacher triple with `everything`) into the graph; see `files_to_load`.

    Bad lines are reported with file and line number and skipped; with `strict` the first one
    raises InputError and nothing is written.
    """
    files = files_to_load(path, everything)
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
