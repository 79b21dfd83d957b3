"""Stage one of generation: a teacher continues numbered lists of seed events and writes new events."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from skd.core.errors import BudgetExceededError, InputError, SkdError
from skd.graph_schema.text import clean_text, text_key
from skd.ingest.cache import CachedTeacher, RequestCache, open_request_cache
from skd.ingest.prompts import EVENTS_TEMPLATE, SeedEvent, load_seed_events, stable_rng
from skd.ingest.run import (
    AppendLog,
    ProgressCallback,
    RunFolder,
    RunStats,
    ShardWriter,
    Stop,
    UsageMeter,
    attach_journal,
    detach_journal,
    now_iso,
)
from skd.models.teacher import Teacher, run_sync

__all__ = [
    "EventsSummary",
    "agenerate_events",
    "event_problem",
    "generate_events",
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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _graph_keys(store: Any, keys: Sequence[str]) -> set[str]:
    return set(store.events(list(keys))) if store is not None and keys else set()


async def agenerate_events(
    teacher: Teacher,
    run_dir: Path | str,
    n: int,
    seed_file: Path | str | None = None,
    store: Any = None,
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
) -> EventsSummary:
    """Generate events into `run_dir` until it holds `n`, resuming whatever an earlier session did.

    Each batch of prompts is a pure function of (seed, batch number), so a killed batch is asked again
    identically, answered by the request cache, and deduplicated against the events already written.
    `store` (a GraphStore) adds deduplication against the events already in the graph.
    """
    if n < 1:
        raise InputError(f"--n must be at least 1, not {n}")
    if examples_per_prompt < 1 or prompts_per_batch < 1 or samples_per_prompt < 1:
        raise InputError("examples per prompt, prompts per batch and samples per prompt must be at least 1")
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
        },
        fixed=("teacher", "seed", "template", "seed_file", "examples_per_prompt", "prompts_per_batch"),
    )
    request_cache = open_request_cache(cache)
    asker: Teacher = CachedTeacher(teacher, request_cache) if request_cache is not None else teacher
    state = run.stage(STAGE)
    stats = RunStats(
        stage=STAGE,
        total=n,
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
            status=status,
            target=n,
        )
        run.save_manifest()

    if progress:
        progress(stats)
    journal = attach_journal(teacher, run)  # a batch teacher records its batches in this run's manifest
    try:
        while len(seen) < n:
            if batch * prompts_per_batch >= limit:
                stopped = f"prompt limit reached ({limit} prompts); raise --max-prompts to go on"
                stop = Stop.PROMPT_LIMIT
                break
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
                if key in seen or key in seed_keys or key in in_graph or len(seen) >= n:
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
        events_out.close()
        rejects_out.close()
        if request_cache is not None and not isinstance(cache, RequestCache):
            request_cache.close()
    complete = len(seen) >= n
    save("complete" if complete else f"stopped: {stopped}")
    return EventsSummary(
        run_dir=str(run.path),
        run_id=run.run_id,
        teacher=teacher.name,
        target=n,
        events=len(seen),
        new=new,
        complete=complete,
        stopped=stopped,
        stop=stop,
        stats=stats.to_json(),
        usage=meter.total(),
    )


def generate_events(
    teacher: Teacher,
    run_dir: Path | str,
    n: int,
    seed_file: Path | str | None = None,
    store: Any = None,
    **options: Any,
) -> EventsSummary:
    """Synchronous `agenerate_events`, for the CLI and pipelines."""
    return run_sync(agenerate_events(teacher, run_dir, n, seed_file, store, **options))
