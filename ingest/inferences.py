"""Stage two of generation: for each event and relation, a few-shot prompt; the teacher's samples become triples."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from skd.core.errors import BudgetExceededError, InputError, SkdError
from skd.graph_schema.records import Triple, make_triple
from skd.graph_schema.relations import Relation, parse_relations
from skd.graph_schema.text import clean_text, is_none_tail, text_key
from skd.ingest.cache import CachedTeacher, RequestCache, open_request_cache
from skd.ingest.events import merge_event_runs
from skd.ingest.prompts import choose_examples, load_seed_events, template_for
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
    teacher_record,
)
from skd.models.student_eval import Outputs, References, group_triples
from skd.models.teacher import Teacher, TeacherSample, run_sync

__all__ = [
    "InferencesSummary",
    "agenerate_inferences",
    "ainfer_for_events",
    "generate_inferences",
    "infer_for_events",
    "parse_tail",
    "tail_problem",
    "teacher_outputs_live",
]

STAGE = "inferences"
MAX_TAIL_WORDS, MAX_TAIL_CHARS = 16, 100
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\"'”])[.!?](\s|$)")
_WORD = re.compile(r"[A-Za-z']+")


def parse_tail(text: str) -> str:
    """The inference in a continuation: its first line, up to the end of its first sentence, cleaned."""
    first = text.strip("\n ").split("\n", 1)[0] if text.strip() else ""
    m = _SENTENCE_END.search(first)
    if m:
        first = first[: m.start()]
    return clean_text(first.strip().strip("\"'`“”"))


def tail_problem(event: str, tail: str) -> str | None:
    """Why a cleaned tail is unusable for an event, or None when it is fine."""
    if not tail or not _WORD.search(tail):
        return "empty"
    if is_none_tail(tail):
        return "none"
    if len(tail.split()) > MAX_TAIL_WORDS or len(tail) > MAX_TAIL_CHARS:
        return "too long"
    if text_key(tail) == text_key(event):
        return "copies the event"
    if re.match(r"^\d+\s*[.)]", tail):
        return "list number"
    words = [w.lower() for w in _WORD.findall(tail)]
    if any(a == b for a, b in pairwise(words)):
        return "repeated words"
    return None


def applies(relation: Relation, event: str) -> bool:
    """isFilledBy asks what fills a blank, so it only applies to events that have one (___)."""
    return relation.name != "isFilledBy" or "___" in event


@dataclass(slots=True)
class _Pair:
    event: str
    relation: Relation
    prompt: str
    examples: list[str]
    template: str
    id: str  # the event's key and the relation's name: what marks the pair done, and what a shard owns


@dataclass(slots=True)
class _Outcome:
    pair: _Pair
    triples: list[Triple]
    rejects: list[dict[str, Any]]


def _make_pairs(
    events: Sequence[str], relations: Sequence[Relation], examples_per_prompt: int, seed: int | str
) -> list[_Pair]:
    pairs = []
    for event in events:
        key = text_key(event)
        for rel in relations:
            if not applies(rel, event):
                continue
            tpl = template_for(rel)
            ex = choose_examples(rel.name, event, examples_per_prompt, seed)
            pairs.append(_Pair(event, rel, tpl.render(ex, event), [x.id for x in ex], tpl.id, f"{key}\t{rel.name}"))
    return pairs


def _judge(
    pair: _Pair,
    samples: Sequence[TeacherSample],
    decoding: dict[str, Any],
    teacher: str,
    run_id: str | None,
    seen: set[tuple[str, str, str]],
    stats: RunStats,
) -> _Outcome:
    """Parse, filter and deduplicate one pair's samples into triples and rejects."""
    triples, rejects = [], []
    for s, completion in enumerate(samples):
        stats.completions += 1
        tail = parse_tail(completion.text)
        problem = tail_problem(pair.event, tail)
        if problem:
            stats.reject(problem)
            rejects.append(
                {
                    "id": f"{STAGE}:{pair.id}:s{s}",
                    "stage": STAGE,
                    "event": pair.event,
                    "relation": pair.relation.name,
                    "reason": problem,
                    "raw": completion.text,
                    "time": now_iso(),
                }
            )
            continue
        triple = make_triple(
            pair.event,
            pair.relation.name,
            tail,
            sources=["teacher"],
            runs=[run_id] if run_id else [],
            teachers=[teacher],
            prompts=[pair.template],
            provenance={
                "examples": pair.examples,
                "decoding": decoding,
                "logprob": completion.logprob,
                "time": now_iso(),
                "sample": s,
            },
        )
        if triple.key in seen:
            stats.duplicates += 1
            continue
        seen.add(triple.key)
        stats.accepted += 1
        triples.append(triple)
    return _Outcome(pair, triples, rejects)


def _decoding(per_pair: int, max_tokens: int, temperature: float, top_p: float) -> dict[str, Any]:
    if per_pair < 1:
        raise InputError(f"--per-pair must be at least 1, not {per_pair}")
    return dict(n=per_pair, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=["\n"])


async def ainfer_for_events(
    teacher: Teacher,
    events: Sequence[str],
    relations: str | Sequence[str] | None,
    per_pair: int,
    *,
    examples_per_prompt: int = 5,
    max_tokens: int = 24,
    temperature: float = 0.9,
    top_p: float = 0.95,
    seed: int | str = 0,
    batch_pairs: int = 64,
    cache: RequestCache | Path | None = None,
) -> list[Triple]:
    """The teacher's inferences for `events`, in memory (no run folder): accepted, deduplicated triples."""
    rels = parse_relations(relations if isinstance(relations, str) or relations is None else list(relations))
    decoding = _decoding(per_pair, max_tokens, temperature, top_p)
    clean = [e for e in (clean_text(x) for x in events) if e]
    request_cache = open_request_cache(cache)
    asker: Teacher = CachedTeacher(teacher, request_cache) if request_cache is not None else teacher
    pairs = _make_pairs(clean, rels, examples_per_prompt, seed)
    stats, out = RunStats(stage=STAGE, total=len(pairs)), []
    seen: set[tuple[str, str, str]] = set()
    session = await open_session(teacher)
    try:
        for i in range(0, len(pairs), batch_pairs):
            chunk = pairs[i : i + batch_pairs]
            answers = await asker.complete([p.prompt for p in chunk], **decoding)
            for pair, samples in zip(chunk, answers, strict=True):
                out.extend(_judge(pair, samples, decoding, teacher.name, None, seen, stats).triples)
    finally:
        if session is not None:
            await session.aclose()
        if request_cache is not None and not isinstance(cache, RequestCache):
            request_cache.close()
    return out


def infer_for_events(
    teacher: Teacher, events: Sequence[str], relations: str | Sequence[str] | None, per_pair: int, **options: Any
) -> list[Triple]:
    """Synchronous `ainfer_for_events`."""
    return run_sync(ainfer_for_events(teacher, events, relations, per_pair, **options))


@dataclass(slots=True)
class InferencesSummary:
    run_dir: str
    run_id: str
    teacher: str
    relations: list[str]
    pairs: int  # (event, relation) pairs in this job
    pairs_done: int
    triples: int  # accepted triples in the run folder, all sessions
    new: int
    complete: bool
    stopped: str | None  # why it ended early, in words
    stop: Stop | None = None  # why it ended early, as a value to decide on
    stats: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _run_events(run: RunFolder, events: Sequence[str] | Sequence[Path] | Path | str | None) -> list[str]:
    """The events to infer for: the run folder's own; a file (as for seed events) or an events run folder;
    or several `Path`s, the folders of one events run's shards, merged into the unsplit run's events."""
    if events is None:
        shard = run.config.get("stages", {}).get("events", {}).get("shard")
        if shard:
            raise InputError(
                f"{run.path} holds shard {shard} of an events run, not all of it: give every shard's folder "
                "with --events (merged, they are the unsplit run's events)"
            )
        found = [row["event"] for row in run.rows("events") if isinstance(row.get("event"), str)]
        if not found:
            raise InputError(
                f"run folder {run.path} has no events yet: run `skd generate events --run "
                f"{run.path}` first, or pass --events FILE"
            )
        return found
    if isinstance(events, str | Path):
        events = [Path(events)]
    if events and all(isinstance(e, Path) for e in events):
        paths = [Path(e) for e in events]
        if len(paths) == 1 and not paths[0].is_dir():
            return [s.text for s in load_seed_events(paths[0])]
        return merge_event_runs(paths).events
    return [e for e in (clean_text(str(x)) for x in events) if e]


async def agenerate_inferences(
    teacher: Teacher,
    run_dir: Path | str,
    relations: str | Sequence[str] | None,
    per_pair: int,
    *,
    events: Sequence[str] | Sequence[Path] | Path | str | None = None,
    examples_per_prompt: int = 5,
    max_tokens: int = 24,
    temperature: float = 0.9,
    top_p: float = 0.95,
    seed: int = 0,
    batch_pairs: int = 64,
    max_events: int | None = None,
    cache: RequestCache | Path | None = None,
    progress: ProgressCallback | None = None,
    shard: Shard | None = None,
) -> InferencesSummary:
    """Generate `per_pair` samples for every (event, relation) pair not yet done in `run_dir`.

    With `shard` (worker I of N, each with its own run folder), only the pairs that shard owns: the N
    folders together hold exactly what one unsplit run holds.

    Events come from the run's own event files unless `events` is given: a list, a file as for seed
    events, an events run folder, or a list of `Path`s to the folders of an events run's shards
    (`merge_event_runs`: exactly the unsplit run's events). A pair is marked done only after its
    triples are on disk, so a killed run redoes at most one batch, whose answers come from the request
    cache and deduplicate against the triples written.
    """
    rels = parse_relations(relations if isinstance(relations, str) or relations is None else list(relations))
    decoding = _decoding(per_pair, max_tokens, temperature, top_p)
    run = RunFolder(run_dir)
    all_events = _run_events(run, events)
    if max_events is not None:
        all_events = all_events[:max_events]
    run.stage_config(
        STAGE,
        {
            "teacher": teacher.name,
            "seed": seed,
            "examples_per_prompt": examples_per_prompt,
            "relations": sorted(
                {*run.config.get("stages", {}).get(STAGE, {}).get("relations", []), *(r.name for r in rels)}
            ),
            "templates": {r.name: template_for(r).id for r in rels},
            "decoding": decoding,
            "shard": str(shard) if shard else None,
        },
        fixed=("teacher", "seed", "examples_per_prompt", "shard"),
    )
    done = {row["pair"] for row in run.log_rows("pairs-done.jsonl") if "pair" in row}
    seen: set[tuple[str, str, str]] = {
        Triple(r["head"], r["relation"], r["tail"]).key
        for r in run.rows("triples")
        if all(isinstance(r.get(k), str) for k in ("head", "relation", "tail"))
    }
    pairs = [p for p in _make_pairs(all_events, rels, examples_per_prompt, seed) if shard is None or shard.owns(p.id)]
    todo = [p for p in pairs if p.id not in done]
    state = run.stage(STAGE)
    stats = RunStats(
        stage=STAGE,
        total=len(pairs),
        done=len(pairs) - len(todo),
        prompts=state.get("prompts", 0),
        completions=state.get("completions", 0),
        accepted=len(seen),
        rejected=state.get("rejected", 0),
        duplicates=state.get("duplicates", 0),
        reasons=dict(state.get("reasons", {})),
    )
    reject_ids = {row.get("id") for row in run.log_rows("rejects.jsonl")}
    request_cache = open_request_cache(cache)
    asker: Teacher = CachedTeacher(teacher, request_cache) if request_cache is not None else teacher
    hits0 = request_cache.hits if request_cache is not None else 0
    triples_out = ShardWriter(run.path, "triples")
    rejects_out = AppendLog(run.path / "rejects.jsonl")
    done_out = AppendLog(run.path / "pairs-done.jsonl")
    meter = UsageMeter(teacher, state.get("usage"))
    new, stopped, stop = 0, None, None

    def save(status: str) -> None:
        state.update(
            prompts=stats.prompts,
            completions=stats.completions,
            triples=len(seen),
            pairs_done=len(done),
            rejected=stats.rejected,
            duplicates=stats.duplicates,
            reasons=stats.reasons,
            usage=meter.total(),
            teacher=teacher_record(teacher),
            status=status,
        )
        run.save_manifest()

    if progress:
        progress(stats)
    journal = attach_journal(teacher, run)  # a batch teacher records its batches in this run's manifest
    session = await open_session(teacher)
    # a teacher with a session shares its slots between calls: the next batch is asked while this one's last
    # requests are answered and its triples written, so the endpoint is not left waiting between batches
    ahead = session is not None
    chunks = [todo[i : i + batch_pairs] for i in range(0, len(todo), batch_pairs)]
    asked: asyncio.Future[list[list[TeacherSample]]] | None = None
    try:
        for k, chunk in enumerate(chunks):
            current = asked or asyncio.ensure_future(asker.complete([p.prompt for p in chunk], **decoding))
            asked = None
            if ahead and k + 1 < len(chunks):
                asked = asyncio.ensure_future(asker.complete([p.prompt for p in chunks[k + 1]], **decoding))
            answers = await current
            stats.prompts += len(chunk)
            outcomes = [
                _judge(p, a, decoding, teacher.name, run.run_id, seen, stats)
                for p, a in zip(chunk, answers, strict=True)
            ]
            for o in outcomes:
                for t in o.triples:
                    triples_out.write(t.to_json())
                    new += 1
                for r in o.rejects:
                    if r["id"] not in reject_ids:
                        reject_ids.add(r["id"])
                        rejects_out.write(r)
            triples_out.sync()
            rejects_out.sync()
            for o in outcomes:
                done.add(o.pair.id)
                done_out.write({"pair": o.pair.id, "accepted": len(o.triples), "rejected": len(o.rejects)})
            done_out.sync()
            stats.done += len(chunk)
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
        if asked is not None:  # a batch asked ahead of one that failed: not wanted any more
            asked.cancel()
            await asyncio.wait([asked])
            if not asked.cancelled():
                asked.exception()  # retrieved, so asyncio does not log it as lost
        detach_journal(journal)
        if session is not None:
            await session.aclose()
        for f in (triples_out, rejects_out, done_out):
            f.close()
        if request_cache is not None and not isinstance(cache, RequestCache):
            request_cache.close()
    finished = sum(1 for p in pairs if p.id in done)
    complete = finished == len(pairs)
    save("complete" if complete else f"stopped: {stopped}")
    return InferencesSummary(
        run_dir=str(run.path),
        run_id=run.run_id,
        teacher=teacher.name,
        relations=[r.name for r in rels],
        pairs=len(pairs),
        pairs_done=finished,
        triples=len(seen),
        new=new,
        complete=complete,
        stopped=stopped,
        stop=stop,
        stats=stats.to_json(),
        usage=meter.total(),
    )


def generate_inferences(
    teacher: Teacher, run_dir: Path | str, relations: str | Sequence[str] | None, per_pair: int, **options: Any
) -> InferencesSummary:
    """Synchronous `agenerate_inferences`, for the CLI and pipelines."""
    return run_sync(agenerate_inferences(teacher, run_dir, relations, per_pair, **options))


def teacher_outputs_live(teacher: Teacher, refs: References, per_pair: int = 1) -> Outputs:
    """Ask a teacher (`skd.models.teacher.make_teacher`) few-shot for the reference pairs, one relation
    at a time so no unasked pairs are generated. A pair whose every answer was rejected (unparsable,
    empty) stays in, with no outputs: it was asked and answered nothing usable."""
    by_relation: dict[str, list[str]] = {}
    for key, rel in refs.pairs:
        by_relation.setdefault(rel, []).append(refs.heads[key])
    triples: list[Triple] = []
    for rel, events in by_relation.items():
        triples.extend(infer_for_events(teacher, events, [rel], per_pair))
    got = group_triples(triples)[0]
    return {k: got.get(k, []) for k in refs.pairs}
