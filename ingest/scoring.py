"""Applying a critic: scoring triples files, run folders and the graph, and filtering by a calibrated cutoff.

Scored files appear whole or not at all: rows go to `<file>.partial`, with `<file>.partial.pos`
recording how far the input was read, and the finished file is renamed into place. An interrupted
run resumes from the last batch written; a file whose rows all carry `critic_score` is skipped.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from skd.core.errors import InputError
from skd.core.files import atomic_write
from skd.core.resume import ResumeNote
from skd.graph_schema.records import Triple
from skd.graph_schema.triples_io import LineError, Row, file_format, read_rows, read_triples, triple_files
from skd.models.critic import Critic, ProgressFn

if TYPE_CHECKING:
    from skd.graph_schema.store import GraphStore

R = TypeVar("R")

#: Rows scored together: large enough that sorting by length keeps padding low, small enough to resume often.
CHUNK = 1024
SCORE_DIGITS = 6
_MAX_ERRORS_KEPT = 20


@dataclass
class ScoreSummary:
    """What `score_path` did."""

    files: int = 0
    files_skipped: int = 0  # already fully scored
    scored: int = 0
    resumed_from_line: int = 0
    bad_lines: int = 0
    outputs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    per_second: float = 0.0
    mean_score: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FilterSummary:
    """What `filter_path` kept."""

    total: int = 0
    accepted: int = 0
    scored_now: int = 0
    bad_lines: int = 0
    selection: dict[str, Any] = field(default_factory=dict)
    accepted_by_relation: dict[str, int] = field(default_factory=dict)
    out: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return self.total - self.accepted

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rejected": self.rejected}


@dataclass
class GraphScoreSummary:
    """What `score_graph` did."""

    seen: int = 0
    scored: int = 0
    updated: int = 0
    skipped_scored: int = 0
    seconds: float = 0.0
    per_second: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def _fully_scored(path: Path) -> bool:
    """True when every JSON object row of a JSONL file carries a numeric `critic_score` (rows that are
    not JSON objects cannot be scored, so they do not count against it)."""
    if not path.exists() or file_format(path) != "jsonl":
        return False
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and not isinstance(row.get("critic_score"), int | float):
                return False
    return True


def _destination(src: Path, root: Path, out: Path | None) -> Path:
    """Where the scored rows of `src` go: in place for JSONL, `<stem>.scored.jsonl` beside a TSV,
    or under `out` (a file for a file input, a folder mirroring a folder input)."""
    if out is None:
        return src if file_format(src) == "jsonl" else src.with_name(src.stem + ".scored.jsonl")
    if root.is_file():
        # `out` names a file when it has a JSONL suffix, otherwise a folder to put the scored file in
        return (
            out
            if out.suffix.lower() in (".jsonl", ".json", ".ndjson") and not out.is_dir()
            else out / (src.stem + ".jsonl")
        )
    return (out / src.relative_to(root)).with_suffix(".jsonl")


class _Resumable:
    """A `.partial` output file plus a `ResumeNote` of (input line, output bytes) after each batch."""

    def __init__(self, dest: Path, fresh: bool) -> None:
        self.dest = dest
        self.partial = dest.with_name(dest.name + ".partial")
        self.note = ResumeNote(dest.with_name(dest.name + ".partial.pos"), ("line", "offset"))
        saved = None if fresh or not self.partial.exists() else self.note.read()
        self.start_line, offset = (saved["line"], saved["offset"]) if saved else (0, 0)
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.fh: IO[str] = self.partial.open("a+" if offset else "w", encoding="utf-8")
        if offset:
            # rows written after the last note belong to a batch that will be scored again
            self.fh.truncate(offset)
            self.fh.seek(offset)

    def checkpoint(self, line: int) -> None:
        self.fh.flush()
        self.note.save(line=line, offset=self.fh.tell())

    def finish(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.partial, self.dest)
        self.note.clear()


def _scored_row(triple: Triple, obj: dict[str, Any] | None, score: float) -> dict[str, Any]:
    if isinstance(obj, dict):
        row = dict(obj)  # keep every field the producer wrote, add the score
    else:
        row = triple.to_json()
        row.pop("score", None)
    row["critic_score"] = round(score, SCORE_DIGITS)
    return row


def score_path(
    critic: Critic,
    path: str | Path,
    out: str | Path | None = None,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    rescore: bool = False,
) -> ScoreSummary:
    """Add `critic_score` to every triple of a file or run folder (its `triples*.jsonl` shards).

    JSONL files are rewritten in place (each row keeps its fields; a malformed row is kept as it was
    and counted); a TSV file gets a `<stem>.scored.jsonl` beside it; with `out`, results go there
    instead. Files already fully scored are skipped unless `rescore`.
    """
    root = Path(path)
    out_path = Path(out) if out is not None else None
    files = triple_files(root)
    summary = ScoreSummary()
    started = time.perf_counter()
    total = sum(_count_lines(f) for f in files)
    done = 0
    score_sum = 0.0
    for src in files:
        dest = _destination(src, root, out_path)
        summary.files += 1
        if not rescore and _fully_scored(dest) and (dest == src or dest.stat().st_mtime >= src.stat().st_mtime):
            summary.files_skipped += 1
            done += _count_lines(src)
            if progress:
                progress("scoring", done, total)
            continue
        errors: list[LineError] = []
        sink = _Resumable(dest, fresh=rescore)
        summary.resumed_from_line += sink.start_line
        if sink.start_line:
            done += _count_lines_upto(src, sink.start_line)
        fmt = file_format(src)
        chunk: list[Row]
        for chunk in _chunks(read_rows(src, errors=errors, start_line=sink.start_line), CHUNK):
            scores = iter(critic.score([r.triple for r in chunk if r.triple is not None], batch_size=batch_size))
            for row in chunk:
                if row.triple is None:
                    if fmt == "jsonl":
                        sink.fh.write(row.text + "\n")  # in place: never drop what someone else wrote
                    continue
                s = next(scores)
                score_sum += s
                summary.scored += 1
                sink.fh.write(json.dumps(_scored_row(row.triple, row.fields, s), ensure_ascii=False) + "\n")
            sink.checkpoint(chunk[-1].line)
            done += len(chunk)
            if progress:
                progress("scoring", done, total)
        sink.finish()
        summary.bad_lines += len(errors)
        summary.errors.extend(str(e) for e in errors[: _MAX_ERRORS_KEPT - len(summary.errors)])
        summary.outputs.append(str(dest))
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.per_second = round(summary.scored / summary.seconds, 1) if summary.seconds else 0.0
    summary.mean_score = round(score_sum / summary.scored, 4) if summary.scored else None
    return summary


def _count_lines_upto(path: Path, line: int) -> int:
    with path.open("rb") as f:
        return sum(1 for i, raw in enumerate(f, start=1) if i <= line and raw.strip())


def _chunks(rows: Iterable[R], size: int) -> Iterator[list[R]]:
    chunk: list[R] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def filter_path(
    critic: Critic,
    path: str | Path,
    out: str | Path,
    recall_level: float | None = None,
    min_precision: float | None = None,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    rescore: bool = False,
) -> FilterSummary:
    """Write the triples of a file or run folder whose critic score reaches the chosen cutoff to `out` (JSONL).

    The cutoff comes from the critic's calibration: a recall level (the paper's 0.5-0.9) or a minimum
    precision; with neither, the critic's default level. Scores already in the rows (`critic_score`,
    from `score_path`) are used unless `rescore`; missing ones are computed now.
    """
    selection = critic.selection(recall_level, min_precision)
    cutoff = float(selection["cutoff"])
    root, dest = Path(path), Path(out)
    files = triple_files(root)
    if any(f.resolve() == dest.resolve() for f in files):
        raise InputError(f"{dest}: the output must not be one of the input files")
    summary = FilterSummary(selection=selection, out=str(dest))
    errors: list[LineError] = []
    total = sum(_count_lines(f) for f in files)
    done = 0
    with atomic_write(dest) as fh:
        for f in files:
            for chunk in _chunks(read_triples(f, errors=errors), CHUNK):
                triples = [n.triple for n in chunk]
                missing = [t for t in triples if rescore or t.score is None]
                if missing:
                    for t, s in zip(missing, critic.score(missing, batch_size=batch_size), strict=True):
                        t.score = round(s, SCORE_DIGITS)
                    summary.scored_now += len(missing)
                for t in triples:
                    summary.total += 1
                    if t.score is not None and t.score >= cutoff:
                        summary.accepted += 1
                        summary.accepted_by_relation[t.relation] = summary.accepted_by_relation.get(t.relation, 0) + 1
                        row = t.to_json()
                        row["critic_score"] = row.pop("score")
                        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                done += len(chunk)
                if progress:
                    progress("filtering", min(done, total), total)
    summary.bad_lines = len(errors)
    summary.errors = [str(e) for e in errors[:_MAX_ERRORS_KEPT]]
    summary.accepted_by_relation = dict(sorted(summary.accepted_by_relation.items()))
    return summary


def score_graph(
    critic: Critic,
    store: GraphStore,
    batch_size: int = 64,
    chunk: int = CHUNK,
    missing_only: bool = False,
    progress: ProgressFn | None = None,
) -> GraphScoreSummary:
    """Score every triple in the graph (streamed with `store.export()`) and write the scores back in batches.

    With `missing_only`, triples that already have a score are left alone, so an interrupted run
    resumes where it stopped.
    """
    summary = GraphScoreSummary()
    started = time.perf_counter()
    total = int(store.stats().get("triples", 0))
    for batch in _chunks(store.export(), chunk):
        summary.seen += len(batch)
        todo = [t for t in batch if not (missing_only and t.score is not None)]
        summary.skipped_scored += len(batch) - len(todo)
        if todo:
            scores = critic.score(todo, batch_size=batch_size)
            summary.updated += store.set_scores(
                [(t.head, t.relation, t.tail, round(s, SCORE_DIGITS)) for t, s in zip(todo, scores, strict=True)]
            )
            summary.scored += len(todo)
        if progress:
            progress("scoring the graph", summary.seen, max(total, summary.seen))
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.per_second = round(summary.scored / summary.seconds, 1) if summary.seconds else 0.0
    return summary
