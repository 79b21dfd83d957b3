"""Stage one of generation: a teacher continues numbered lists of seed events and writes new events."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skd.core.errors import BudgetExceededError, InputError, SkdError
from skd.graph_schema.text import clean_text, text_key
from skd.ingest.cache import CachedTeacher, RequestCache, open_request_cache
from skd.ingest.prompts import EVENTS_TEMPLATE, SeedEvent, load_seed_events, stable_rng
from skd.ingest.run import (
    AppendLog,
    ProgressCallback,
    RunFolder,
    RunStats,
    Shard,
    ShardWriter,
    Stop,
    UsageMeter,
    attach_journal,
    detach_journal,
    now_iso,
    open_session,
    read_rows,
    teacher_record,
)
from skd.models.teacher import Teacher, run_sync

if TYPE_CHECKING:
    from skd.graph_schema.store import GraphStore

__all__ = [
    "EventsSummary",
    "MergedEvents",
    "agenerate_events",
    "event_problem",
    "generate_events",
    "merge_event_runs",
    "normalise_event",
    "parse_event_list",
]

STAGE = "events"
_ITEM = re.compile(r"^\s*\d{1,3}\s*[.)]\s*(.*)$")
_WORD = re.compile(r"[A-Za-z']+")
MIN_WORDS, MAX_WORDS, MAX_CHARS = 3, 18, 120


def parse_event_list(text: str) -> list[str]:
    """The events in a continuation of a numbered list: the rest of the open item, then each following
    numbered line; the list ends at the first line that is not a numbered item."""
    lines = text.split("\n")
    items = [lines[0]]
    for line in lines[1:]:
        m = _ITEM.match(line)
        if m is None:
            break
        items.append(m.group(1))
    return items


def normalise_event(text: str) -> str:
    """PersonX/PersonY spelled one way, white space collapsed, quotes and trailing punctuation gone."""
    return clean_text(text.strip().strip("\"'`“”"))


def event_problem(text: str) -> str | None:
    """Why a normalised event is junk, or None when it is fine."""
    if not text:
        return "empty"
    words = text.split()
    if len(words) < MIN_WORDS:
        return "too short"
    if len(words) > MAX_WORDS or len(text) > MAX_CHARS:
        return "too long"
    if "PersonX" not in text:
        return "no PersonX"
    lowered = [w.lower() for w in _WORD.findall(text)]
    if any(a == b for a, b in pairwise(lowered)):
        return "repeated words"
    counts: dict[str, int] = {}
    for w in lowered:
        if len(w) > 3:
            counts[w] = counts.get(w, 0) + 1
    if counts and max(counts.values()) >= 3:
        return "repeated words"
    return None


@dataclass(slots=True)
class EventsSummary:
    run_dir: str
    run_id: str
    teacher: str
    target: int
    events: int  # accepted events in the run folder, all sessions
    new: int  # accepted in this session
    complete: bool
    stopped: str | None  # why it ended early, in words
    stop: Stop | None = None  # why it ended early, as a value to decide on
    stats: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    shard: str | None = None  # "I/N" when this folder is one worker's share of a run; `target` is then its own

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _graph_keys(store: GraphStore | None, keys: Sequence[str]) -> set[str]:
    return set(store.events(list(keys))) if store is not None and keys else set()


async def agenerate_events(
    teacher: Teacher,
    run_dir: Path | str,
    n: int,
    seed_file: Path | str | None = None,
    store: GraphStore | None = None,
    *,
    examples_per_prompt: int = 10,
    prompts_per_batch: int = 32,
    samples_per_prompt: int = 1,
    max_tokens: int = 64,
    temperature: float = 0.9,
    top_p: float = 0.95,
    seed: int = 0,
    max_prompts: int | None = None,
    cache: RequestCache | Path | None = None,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
    shard: Shard | None = None,
    shard_margin: float = 0.25,
) -> EventsSummary:
    """Generate events into `run_dir` until it holds `n`, resuming whatever an earlier session did.

    Each batch of prompts is a pure function of (seed, batch number), so a killed batch is asked again
    identically, answered by the request cache, and deduplicated against the events already written.
    `store` (a GraphStore) adds deduplication against the events already in the graph.

    With `shard` (worker I of N, each with its own run folder) only the batches that worker owns (batch
    numbers I-1, I-1+N, ...), each written whole, until the folder holds its share of `n` plus
    `shard_margin` (events the other shards also find count once in the union); `merge_event_runs` of
    the N folders then gives exactly the events of the unsplit run.
    """
    if n < 1:
        raise InputError(f"--n must be at least 1, not {n}")
    if examples_per_prompt < 1 or prompts_per_batch < 1 or samples_per_prompt < 1:
        raise InputError("examples per prompt, prompts per batch and samples per prompt must be at least 1")
    if shard_margin < 0:
        raise InputError(f"--shard-margin must be at least 0, not {shard_margin}")
    # a shard cannot see the others, so it aims at its share with a margin; the merge checks it was enough
    target = n if shard is None else math.ceil(n * (1 + shard_margin) / shard.count)
    seeds: list[SeedEvent] = load_seed_events(seed_file)
    run = RunFolder(run_dir, run_id)
    decoding: dict[str, Any] = dict(
        n=samples_per_prompt, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=["\n\n"]
    )
    run.stage_config(
        STAGE,
        {
            "teacher": teacher.name,
            "seed": seed,
            "template": EVENTS_TEMPLATE.id,
            "seed_file": str(seed_file) if seed_file else None,
            "n": n,
            "examples_per_prompt": examples_per_prompt,
            "prompts_per_batch": prompts_per_batch,
            "decoding": decoding,
            "shard": str(shard) if shard else None,
            "shard_margin": shard_margin if shard else None,
        },
        fixed=("teacher", "seed", "template", "seed_file", "examples_per_prompt", "prompts_per_batch", "shard"),
    )
    request_cache = open_request_cache(cache)
    asker: Teacher = CachedTeacher(teacher, request_cache) if request_cache is not None else teacher
    state = run.stage(STAGE)
    stats = RunStats(
        stage=STAGE,
        total=target,
        prompts=state.get("prompts", 0),
        completions=state.get("completions", 0),
        rejected=state.get("rejected", 0),
        duplicates=state.get("duplicates", 0),
        reasons=dict(state.get("reasons", {})),
    )
    seen = {row["key"] for row in run.rows("events") if "key" in row}
    stats.accepted = stats.done = len(seen)
    seed_keys = {text_key(s.text) for s in seeds}
    reject_ids = {row.get("id") for row in run.log_rows("rejects.jsonl")}
    events_out = ShardWriter(run.path, "events")
    rejects_out = AppendLog(run.path / "rejects.jsonl")
    meter = UsageMeter(teacher, state.get("usage"))
    limit = max_prompts if max_prompts is not None else max(200, 20 * n)
    batch = int(state.get("batches_done", 0))
    new, stopped, stop = 0, None, None
    hits0 = request_cache.hits if request_cache is not None else 0

    def save(status: str) -> None:
        state.update(
            batches_done=batch,
            prompts=stats.prompts,
            completions=stats.completions,
            events=len(seen),
            rejected=stats.rejected,
            duplicates=stats.duplicates,
            reasons=stats.reasons,
            usage=meter.total(),
            teacher=teacher_record(teacher),
            status=status,
            target=target,
            prompt_limit=limit,
        )
        run.save_manifest()

    if progress:
        progress(stats)
    journal = attach_journal(teacher, run)  # a batch teacher records its batches in this run's manifest
    session = await open_session(teacher)
    try:
        while len(seen) < target:
            if batch * prompts_per_batch >= limit:
                stopped = f"prompt limit reached ({limit} prompts); raise --max-prompts to go on"
                stop = Stop.PROMPT_LIMIT
                break
            if shard is not None and not shard.owns_position(batch):
                batch += 1  # another worker's batch
                continue
            examples = [
                stable_rng(seed, STAGE, batch, j).sample(seeds, min(examples_per_prompt, len(seeds)))
                for j in range(prompts_per_batch)
            ]
            prompts = [EVENTS_TEMPLATE.render([s.text for s in ex]) for ex in examples]
            answers = await asker.complete(prompts, **decoding)
            stats.prompts += len(prompts)
            fresh: list[tuple[str, dict[str, Any]]] = []
            for j, samples in enumerate(answers):
                for s, completion in enumerate(samples):
                    stats.completions += 1
                    for i, raw in enumerate(parse_event_list(completion.text)):
                        text = normalise_event(raw)
                        problem = event_problem(text)
                        if problem:
                            stats.reject(problem)
                            rid = f"{STAGE}:b{batch}:p{j}:s{s}:i{i}"
                            if rid not in reject_ids:
                                reject_ids.add(rid)
                                rejects_out.write(
                                    {
                                        "id": rid,
                                        "stage": STAGE,
                                        "reason": problem,
                                        "raw": raw,
                                        "completion": completion.text,
                                        "time": now_iso(),
                                    }
                                )
                            continue
                        prov = {
                            "examples": [x.id for x in examples[j]],
                            "decoding": decoding,
                            "logprob": completion.logprob,
                            "time": now_iso(),
                            "batch": batch,
                            "prompt_index": j,
                            "sample": s,
                            "item": i,
                        }
                        fresh.append((text, prov))
            in_graph = _graph_keys(store, sorted({text_key(t) for t, _ in fresh}))
            for text, prov in fresh:
                key = text_key(text)
                # the unsplit run stops at n mid-batch; a shard writes its batches whole, the merge cuts at n
                if key in seen or key in seed_keys or key in in_graph or (shard is None and len(seen) >= n):
                    stats.duplicates += 1
                    continue
                seen.add(key)
                new += 1
                events_out.write(
                    {
                        "id": f"{run.run_id}:e{len(seen)}",
                        "event": text,
                        "key": key,
                        "run": run.run_id,
                        "teacher": teacher.name,
                        "prompt": EVENTS_TEMPLATE.id,
                        "provenance": prov,
                    }
                )
            events_out.sync()
            rejects_out.sync()
            batch += 1
            stats.accepted = stats.done = len(seen)
            stats.cached = (request_cache.hits - hits0) if request_cache is not None else 0
            save("running")
            if progress:
                progress(stats)
    except BudgetExceededError as e:
        stopped, stop = f"{e}; resume with a larger cap", Stop.BUDGET
    except SkdError as e:
        save(f"failed: {e}")
        raise
    finally:
        detach_journal(journal)
        if session is not None:
            await session.aclose()
        events_out.close()
        rejects_out.close()
        if request_cache is not None and not isinstance(cache, RequestCache):
            request_cache.close()
    complete = len(seen) >= target
    save("complete" if complete else f"stopped: {stopped}")
    return EventsSummary(
        run_dir=str(run.path),
        run_id=run.run_id,
        teacher=teacher.name,
        target=target,
        events=len(seen),
        new=new,
        complete=complete,
        stopped=stopped,
        stop=stop,
        stats=stats.to_json(),
        usage=meter.total(),
        shard=str(shard) if shard else None,
    )


def generate_events(
    teacher: Teacher,
    run_dir: Path | str,
    n: int,
    seed_file: Path | str | None = None,
    store: GraphStore | None = None,
    **options: Any,
) -> EventsSummary:
    """Synchronous `agenerate_events`, for the CLI and pipelines."""
    return run_sync(agenerate_events(teacher, run_dir, n, seed_file, store, **options))


#: what the shards of one events run share (their config), or their union is no single run's
_SHARED = ("teacher", "seed", "template", "seed_file", "examples_per_prompt", "prompts_per_batch", "decoding", "n")


@dataclass(slots=True)
class MergedEvents:
    """The events of one run, as the unsplit run holds them, from its folder or its N shards' folders."""

    rows: list[dict[str, Any]]  # event rows in the run's order (each with the id and run of the folder it is from)
    n: int  # events the run was asked for
    complete: bool  # it holds n; else it stopped at its prompt limit, as the unsplit run would have
    folders: list[str]
    covered: int | None = None  # shards: batches 0 .. covered-1 were done by every one of them

    @property
    def events(self) -> list[str]:
        return [str(r["event"]) for r in self.rows]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read {path} ({e})") from e
    return data if isinstance(data, dict) else {}


def _position(row: dict[str, Any], folder: Path) -> tuple[int, int, int, int]:
    """Where an event came from in the run's stream of prompts: (batch, prompt, sample, item)."""
    p = row.get("provenance") or {}
    try:
        return int(p["batch"]), int(p["prompt_index"]), int(p["sample"]), int(p["item"])
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{folder}: event {row.get('id')!r} has no batch/prompt/sample/item provenance") from e


def _next_own(shard: Shard, position: int) -> int:
    """The first batch at or after `position` that `shard` owns."""
    return position + (shard.index - 1 - position) % shard.count


def merge_event_runs(folders: Sequence[Path | str]) -> MergedEvents:
    """The events of one run: a run folder's own, or the union of the N folders of `--shard I/N` workers,
    ordered as the unsplit run found them (batch, prompt, sample, item), with an event found by several
    shards kept where it came first, cut at the run's n: exactly the events the unsplit run (made in one
    go) holds, provenance and all but the run and ids.

    That needs every batch before the unsplit run's last one done; when the shards stopped short of it
    (their margin was too small for the duplicates between them, or one is unfinished) this raises an
    InputError naming the shards to resume, instead of giving a different set of events.
    """
    if not folders:
        raise InputError("no events run folders given")
    found: list[tuple[Path, dict[str, Any], dict[str, Any]]] = []
    for f in folders:
        path = Path(f)
        if not path.is_dir():
            raise InputError(f"{path} is not a run folder")
        stage = (_read_json(path / "config.json").get("stages") or {}).get(STAGE) or {}
        state = (_read_json(path / "manifest.json").get("stages") or {}).get(STAGE) or {}
        if not stage and not list(path.glob("events-*.jsonl")):
            raise InputError(f"{path} holds no events (no events stage in its config.json, no events-*.jsonl)")
        found.append((path, stage, state))
    shards = [stage.get("shard") for _, stage, _ in found]
    if len(found) == 1 and not shards[0]:
        path, stage, state = found[0]
        rows = [r for r in read_rows(sorted(path.glob("events-*.jsonl"))) if isinstance(r.get("event"), str)]
        n = int(stage.get("n") or len(rows))
        return MergedEvents(rows, n, len(rows) >= n, [str(path)])
    for (path, _, _), s in zip(found, shards, strict=True):
        if not s:
            raise InputError(f"{path} is a whole events run, not a shard: merge only the N shard folders of one run")
    parts = [Shard.parse(str(s)) for s in shards]
    count = parts[0].count
    if any(p.count != count for p in parts):
        raise InputError(f"these folders are shards of different splits ({', '.join(map(str, parts))})")
    by_index: dict[int, Path] = {}
    for (path, _, _), p in zip(found, parts, strict=True):
        if p.index in by_index:
            raise InputError(f"{by_index[p.index]} and {path} are both shard {p}")
        by_index[p.index] = path
    missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in by_index]
    if missing:
        raise InputError(f"shard {', '.join(missing)} of this events run is missing: give all {count} folders")
    first_path, first, _ = found[0]
    for path, stage, _ in found[1:]:
        for key in _SHARED:
            if stage.get(key) != first.get(key):
                raise InputError(
                    f"{path} and {first_path} are not shards of one run: {key} {stage.get(key)!r} "
                    f"against {first.get(key)!r}"
                )
    n, per_batch = int(first["n"]), int(first["prompts_per_batch"])
    # the first batch not done: a shard has done its own batches before its `batches_done`, and so the
    # batches before its next own one are done (by the others) or not (then another shard is behind)
    covered = min(
        _next_own(part, int(state.get("batches_done", 0))) for part, (_, _, state) in zip(parts, found, strict=True)
    )
    candidates: list[tuple[tuple[int, int, int, int], dict[str, Any]]] = []
    for path, _, _ in found:
        for row in read_rows(sorted(path.glob("events-*.jsonl"))):
            if isinstance(row.get("event"), str):
                pos = _position(row, path)
                if pos[0] < covered:  # past `covered` some shard has not been, so the order there is unknown
                    candidates.append((pos, row))
    candidates.sort(key=lambda c: c[0])
    rows, seen = [], set()
    for _, row in candidates:
        key = row.get("key") or text_key(row["event"])
        if key not in seen:
            seen.add(key)
            rows.append(row)
            if len(rows) >= n:
                break
    if len(rows) < n:
        limits = {state.get("prompt_limit") for _, _, state in found}
        limit = next(iter(limits)) if len(limits) == 1 else None
        if not (isinstance(limit, int) and covered * per_batch >= limit):  # else: all stopped at the prompt limit
            _short(found, parts, covered, len(rows), n)
    return MergedEvents(rows, n, len(rows) >= n, [str(p) for p, _, _ in found], covered)


def _short(
    found: list[tuple[Path, dict[str, Any], dict[str, Any]]], parts: list[Shard], covered: int, have: int, n: int
) -> None:
    """Raise the error that says which shards to resume, and how, for the merge to reach n."""
    shards = [(path, part, stage, state) for (path, stage, state), part in zip(found, parts, strict=True)]
    head = (
        f"the {len(parts)} event shards have all done the batches before {covered}, which hold {have} distinct "
        f"events, fewer than the run's n={n}, so their union is not yet the unsplit run's events: "
    )
    reached = {str(part): _next_own(part, int(state.get("batches_done", 0))) for _, part, _, state in shards}
    behind = [b for b in shards if reached[str(b[1])] == covered]
    unfinished = [
        f"{part} ({path}: {state.get('status', 'not started')})"
        for path, part, _, state in behind
        if state.get("status") != "complete"
    ]
    if unfinished:
        raise InputError(head + f"finish shard {', '.join(unfinished)} (run its command again)")
    margin = max(float(stage.get("shard_margin") or 0.0) for _, _, stage, _ in shards)
    # the batches needed grow about as n / have, the shards' own counts about as their batches; 10% more for
    # the duplicates between shards that those batches add
    ratio = (n / have if have else 2.0) * 1.1
    suggest = math.ceil(((1 + margin) * ratio - 1) * 20) / 20
    needed = covered * ratio
    again = [str(part) for _, part, _, _ in shards if reached[str(part)] < needed]
    raise InputError(
        head
        + f"resume shard {', '.join(again)} (the same command) with a larger --shard-margin "
        + f"(it was {margin:g}; about {suggest:g}), then merge again"
    )
