"""A generation run as a folder: its configuration, a manifest, append-only JSONL shards, and resume.

Layout of a run folder:

    config.json            what each stage was asked to do (teacher, seed, decoding, ...)
    manifest.json          progress and counts per stage, its teacher (name and identity), token usage and
                           cost, and the Batch API jobs
                           of an `openai-batch:` teacher (`teacher_batches`); rewritten atomically
    events-00000.jsonl     accepted events, one JSON object a line
    triples-00000.jsonl    accepted triples (`Triple.to_json()`), what `skd load DIR` reads
    pairs-done.jsonl       (event, relation) pairs finished by the inference stage
    rejects.jsonl          output that did not parse or was filtered, with its raw text and reason
    scored/                the shards with `critic_score` added (`skd critic score`, the pipeline)
    accepted.jsonl         the triples the critic accepted (`skd critic filter`, the pipeline), what
                           `skd load DIR` reads

Writes follow one order: rows, then fsync, then the manifest or done marker that says they are
complete. A run killed at any point therefore redoes at most its last unit of work, and readers drop
the half-written last line such a kill can leave; deduplication on reload keeps redone work single.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, cast

from skd.core.errors import InputError
from skd.core.files import write_json, write_text
from skd.models.batch_journal import IdsCache, journal_json

if TYPE_CHECKING:
    from skd.models.batch_journal import BatchJournal
    from skd.models.teacher import Teacher


class Stop(StrEnum):
    """Why a generation session ended before its target: a spending cap (resume with a larger cap) or
    its prompt limit (resume with a larger limit). A session that reached its target has no `Stop`."""

    BUDGET = "budget"
    PROMPT_LIMIT = "prompt_limit"


@dataclass(frozen=True, slots=True)
class Shard:
    """Worker `index` of `count` (1-based, as `--shard 2/4` says it): the part of the work it owns is fixed
    by a hash of each item's id, so N workers with their own run folders together do exactly one run's work."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            i, _, n = text.partition("/")
            shard = cls(int(i), int(n))
        except ValueError as e:
            raise InputError(f"shard {text!r} must be I/N, such as 2/4 (worker 2 of 4)") from e
        if not 1 <= shard.index <= shard.count:
            raise InputError(f"shard {text!r}: I must be between 1 and N")
        return shard

    def owns(self, item_id: str) -> bool:
        digest = hashlib.sha256(item_id.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def owns_position(self, position: int) -> bool:
        """Ordered work (the events stage's batches 0, 1, 2, ...) goes round-robin instead, so the N workers
        advance through one stream together: worker I owns positions I-1, I-1+N, I-1+2N, ..."""
        return position % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


#: what the critic accepted of a run, and the scored copies of its shards
ACCEPTED_FILE, SCORED_DIR = "accepted.jsonl", "scored"

__all__ = [
    "ManifestJournal",
    "ProgressCallback",
    "RunFolder",
    "RunStats",
    "ShardWriter",
    "attach_journal",
    "detach_journal",
    "now_iso",
    "open_session",
    "teacher_record",
]

SHARD_ROWS = 50_000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(slots=True)
class RunStats:
    """Live counts of one stage of a run, as progress bars show them."""

    stage: str
    total: int  # events wanted, or (event, relation) pairs to do
    done: int = 0  # events accepted so far, or pairs finished
    prompts: int = 0
    completions: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    cached: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


ProgressCallback = Callable[[RunStats], None]


def _repair_tail(path: Path) -> None:
    """Drop a half-written last line (a kill during a write) so appends start on a fresh line."""
    size = path.stat().st_size
    if size == 0:
        return
    with path.open("rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        block = min(size, 1 << 20)
        f.seek(size - block)
        data = f.read(block)
        cut = data.rfind(b"\n")
        f.truncate(size - block + cut + 1 if cut >= 0 else size - block)


class AppendLog:
    """One append-only JSONL file (done markers, rejects); a torn last line is repaired on open."""

    def __init__(self, path: Path) -> None:
        self._path = path
        if path.exists():
            _repair_tail(path)
        self._fh: IO[str] | None = None

    @property
    def path(self) -> Path:
        return self._path

    def write(self, row: dict[str, Any]) -> None:
        if self._fh is None:
            self._fh = self.path.open("a", encoding="utf-8")
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    def sync(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self.sync()
            self._fh.close()
            self._fh = None


class ShardWriter(AppendLog):
    """Appends JSON rows to `<kind>-NNNNN.jsonl`, starting a new shard every `shard_rows` rows."""

    def __init__(self, folder: Path, kind: str, shard_rows: int = SHARD_ROWS) -> None:
        self.folder, self.kind, self.shard_rows = folder, kind, shard_rows
        shards = sorted(folder.glob(f"{kind}-*.jsonl"))
        self.index = int(shards[-1].stem.rsplit("-", 1)[1]) if shards else 0
        self.rows = 0
        if shards:
            _repair_tail(shards[-1])
            with shards[-1].open(encoding="utf-8") as f:
                self.rows = sum(1 for _ in f)
        self._fh = None

    @property
    def path(self) -> Path:
        return self.folder / f"{self.kind}-{self.index:05d}.jsonl"

    def write(self, row: dict[str, Any]) -> None:
        if self.rows >= self.shard_rows:
            self.close()
            self.index += 1
            self.rows = 0
        super().write(row)
        self.rows += 1


def read_rows(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """Rows of JSONL files; an unreadable line (only ever a torn last line) is skipped."""
    for p in paths:
        with p.open(encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue


class RunFolder:
    """Opens (or creates) a run folder and keeps its manifest."""

    def __init__(self, path: Path | str, run_id: str | None = None) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"run folder {self.path} exists and is not a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        self.config = self._load("config.json") or {}
        self.manifest = self._load("manifest.json") or {}
        if not self.config:
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            self.config = {
                "run_id": run_id or f"{self.path.name}-{stamp}-{uuid.uuid4().hex[:6]}",
                "created": now_iso(),
                "stages": {},
            }
            self._save("config.json", self.config)
        elif run_id and run_id != self.config["run_id"]:
            raise InputError(f"{self.path} belongs to run {self.config['run_id']!r}, not {run_id!r}")
        self.manifest.setdefault("run_id", self.run_id)
        self.manifest.setdefault("stages", {})
        self._ids: IdsCache = {}

    @property
    def run_id(self) -> str:
        return str(self.config["run_id"])

    def _load(self, name: str) -> dict[str, Any] | None:
        p = self.path / name
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"{p} is not valid JSON ({e.msg}); is this a run folder?") from e

    def _save(self, name: str, obj: dict[str, Any]) -> None:
        write_json(self.path / name, obj)  # atomic: readers see the old manifest or the new one

    def stage_config(self, stage: str, config: dict[str, Any], fixed: tuple[str, ...]) -> dict[str, Any]:
        """Record a stage's configuration; on resume, the `fixed` keys must match what the run began with
        (another teacher or seed would silently mix two runs), while the rest may change (a larger n)."""
        stages = self.config.setdefault("stages", {})
        old = stages.get(stage)
        if old:
            clash = [k for k in fixed if k in old and old[k] != config.get(k)]
            if clash:
                k = clash[0]
                raise InputError(
                    f"run {self.run_id} ({self.path}) was started with {stage} {k}={old[k]!r}, "
                    f"not {config.get(k)!r}; resume it with the same {k} or use a new --run folder"
                )
        stages[stage] = {**(old or {}), **config}
        self._save("config.json", self.config)
        return stages[stage]

    def stage(self, stage: str) -> dict[str, Any]:
        return self.manifest["stages"].setdefault(stage, {})

    def save_manifest(self) -> None:
        self.manifest["updated"] = now_iso()
        # atomic, as `_save`; a batch teacher's records keep their custom_ids, encoded once (`journal_json`)
        write_text(self.path / "manifest.json", journal_json(self.manifest, ManifestJournal.KEY, self._ids))

    def shards(self, kind: str) -> list[Path]:
        return sorted(self.path.glob(f"{kind}-*.jsonl"))

    def rows(self, kind: str) -> Iterator[dict[str, Any]]:
        return read_rows(self.shards(kind))

    def log_rows(self, name: str) -> Iterator[dict[str, Any]]:
        p = self.path / name
        return read_rows([p]) if p.exists() else iter(())


def teacher_record(teacher: Teacher) -> dict[str, Any]:
    """What a stage's manifest records of its teacher: the name provenance uses and the identity the request
    cache keys on (for an `openai:` teacher its kind, base URL, API mode and model; never a key)."""
    identity: object = getattr(teacher, "identity", None)
    if isinstance(identity, str) and identity.startswith("{"):  # a local teacher's is plain text (name, digest)
        identity = json.loads(identity)
    return {"name": teacher.name, "identity": identity}


class UsageMeter:
    """Adds what a teacher spent in this session to what the run's earlier sessions spent."""

    FIELDS = ("requests", "prompt_tokens", "completion_tokens", "cost", "retries")

    def __init__(self, teacher: Teacher, previous: dict[str, Any] | None) -> None:
        self.teacher = teacher
        self.previous = {k: (previous or {}).get(k, 0) for k in self.FIELDS}
        self.start = self._now()
        self.started = time.monotonic()

    def _now(self) -> dict[str, Any]:
        usage = getattr(self.teacher, "usage", None)
        return {k: getattr(usage, k, 0) for k in self.FIELDS}

    def total(self) -> dict[str, Any]:
        now = self._now()
        out = {k: self.previous[k] + now[k] - self.start[k] for k in self.FIELDS}
        out["cost"] = round(float(out["cost"]), 6)
        out["tokens"] = out["prompt_tokens"] + out["completion_tokens"]
        return out


class ManifestJournal:
    """Where a batch teacher (`models.teacher_batch`) records its batches for this run: the manifest's
    `teacher_batches` list (batch id, input file id, the custom_ids it holds, status, output and error
    file ids, usage), saved atomically with the rest of the manifest, so a killed run resumes the same
    batches instead of submitting them again."""

    KEY = "teacher_batches"

    def __init__(self, run: RunFolder) -> None:
        self.run = run

    def load(self) -> list[dict[str, Any]]:
        records = self.run.manifest.setdefault(self.KEY, [])
        return records if isinstance(records, list) else []

    def save(self, records: list[dict[str, Any]]) -> None:
        self.run.manifest[self.KEY] = records
        self.run.save_manifest()


class JournalKeeper(Protocol):
    """A teacher that keeps a journal of its work (`models.teacher_batch.OpenAIBatchTeacher`)."""

    def attach_journal(self, journal: BatchJournal | None) -> BatchJournal: ...


#: what `attach_journal` returns and `detach_journal` takes: the teacher and the journal it had before
JournalToken = tuple[JournalKeeper, "BatchJournal"] | None


def attach_journal(teacher: Teacher, run: RunFolder) -> JournalToken:
    """Give a teacher that keeps a journal of its work (a batch teacher) this run's manifest as its journal;
    returns what to hand `detach_journal` when the stage ends. Other teachers are left alone."""
    attach = getattr(teacher, "attach_journal", None)
    return (cast(JournalKeeper, teacher), attach(ManifestJournal(run))) if callable(attach) else None


def detach_journal(token: JournalToken) -> None:
    """Give the teacher back the journal it had before `attach_journal`."""
    if token is not None:
        teacher, previous = token
        teacher.attach_journal(previous)


async def open_session(teacher: Teacher) -> AsyncExitStack | None:
    """Enter a teacher's `session()` where it has one (an `openai:` teacher: one client, its connections
    kept, for all the batches of a stage instead of one per batch, and one set of `concurrency` slots that
    lets a stage ask its next batch while one is answered); `aclose()` what this returns when the stage
    ends. None for other teachers, which are left alone."""
    session = getattr(teacher, "session", None)
    if not callable(session):
        return None
    stack = AsyncExitStack()
    await stack.enter_async_context(session())
    return stack


def run_teacher(path: Path | str) -> str | None:
    """The teacher a run folder was started with (its inference stage, else its events), if any."""
    p = Path(path) / "config.json"
    try:
        stages = json.loads(p.read_text(encoding="utf-8")).get("stages", {})
    except (OSError, json.JSONDecodeError):
        return None
    for stage in ("inferences", "events"):
        name = stages.get(stage, {}).get("teacher")
        if name:
            return str(name)
    return None
