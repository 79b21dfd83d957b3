"""Completion of an event: stored inferences from the graph plus live, critic-scored student generations."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Generic, Protocol, TypeVar, TypeVarTuple

from skd.graph_schema.everyday import Normalised, normalise_event
from skd.graph_schema.records import Edge, Triple
from skd.graph_schema.relations import PAPER_RELATIONS, Relation, get_relation
from skd.graph_schema.text import text_key
from skd.service.batcher import MicroBatcher
from skd.service.errors import DeadlineError
from skd.service.graph import AsyncGraph

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")
Ts = TypeVarTuple("Ts")


class GenerationLike(Protocol):
    text: str
    logprob: float


class StudentLike(Protocol):
    """What the service needs of `models.student.Student`."""

    name: str

    def generate(
        self, requests: Sequence[tuple[str, str]], n: int = 1, decoding: str = "greedy", max_new_tokens: int = 24
    ) -> Sequence[Sequence[GenerationLike]]: ...


class CriticLike(Protocol):
    """What the service needs of `models.critic.Critic`."""

    def score(self, items: Sequence[tuple[str, str, str]]) -> Sequence[float]: ...


class Origin(StrEnum):
    GRAPH = "GRAPH"
    STUDENT = "STUDENT"


@dataclass(frozen=True, slots=True)
class Job:
    """One live generation request: up to `n` inferences of `event` for `relation`."""

    event: str
    relation: str
    n: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (text_key(self.event), self.relation, self.n)


@dataclass(frozen=True, slots=True)
class Scored:
    text: str
    logprob: float
    score: float | None


@dataclass(frozen=True, slots=True)
class Completed:
    """One inference of a completion, from the graph or from the student."""

    relation: str
    tail: str
    score: float | None
    origin: Origin
    logprob: float | None = None
    sources: list[str] = field(default_factory=list)


@dataclass(slots=True)
class EventCompletion:
    #: the text as given, and the event it was read as (ATOMIC's form), with what reading it changed
    input: str
    interpretation: list[str]
    event: str
    key: str
    in_graph: bool
    inferences: list[Completed]
    #: the relations asked for (the paper's seven when none were named)
    relations: list[str]
    live_available: bool
    live_relations: list[str]
    cached: int
    student: str | None
    critic: str | None
    notice: str | None


class LruCache(Generic[K, V]):
    """A bounded map that forgets the least recently used entry; used from the event loop only."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        if key not in self._data:
            return None
        self._data.move_to_end(key)
        return self._data[key]

    def put(self, key: K, value: V) -> None:
        if self.size <= 0:
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


def _torch_threads(threads: int) -> None:
    """Set torch's thread count in the thread that runs the models (OpenMP keeps it per thread)."""
    import torch

    torch.set_num_threads(threads)


class Models:
    """The student and the critic behind one worker thread, so model work never blocks the event loop
    and two forward passes never compete for the CPU."""

    def __init__(
        self,
        student: StudentLike | None,
        critic: CriticLike | None,
        max_new_tokens: int = 24,
        threads: int | None = None,
    ) -> None:
        self.student = student
        self.critic = critic
        self.max_new_tokens = max_new_tokens
        self.threads = threads
        loaded = student is not None or critic is not None
        self.executor = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="skd-model",
            initializer=partial(_torch_threads, threads) if loaded and threads is not None else None,
        )

    @property
    def student_name(self) -> str | None:
        return None if self.student is None else str(getattr(self.student, "name", "student"))

    @property
    def critic_name(self) -> str | None:
        return None if self.critic is None else str(getattr(self.critic, "name", "critic"))

    def generate_scored(self, jobs: list[Job]) -> list[list[Scored]]:
        """Generate for every job (identical jobs once, one `generate` call per distinct `n`) and score
        every generation with the critic in one call."""
        assert self.student is not None
        unique: dict[tuple[str, str, int], Job] = {}
        for job in jobs:
            unique.setdefault(job.key, job)
        by_n: dict[int, list[Job]] = {}
        for job in unique.values():
            by_n.setdefault(job.n, []).append(job)
        generated: dict[tuple[str, str, int], list[GenerationLike]] = {}
        for n, group in by_n.items():
            outs = self.student.generate(
                [(j.event, j.relation) for j in group],
                n=n,
                decoding="greedy" if n == 1 else "beam",
                max_new_tokens=self.max_new_tokens,
            )
            for job, gens in zip(group, outs, strict=True):
                generated[job.key] = list(gens)[:n]
        flat = [(unique[k], g) for k, gens in generated.items() for g in gens]
        scores: Sequence[float | None] = [None] * len(flat)
        if self.critic is not None and flat:
            scores = self.critic.score([(j.event, j.relation, g.text) for j, g in flat])
        scored: dict[tuple[str, str, int], list[Scored]] = {k: [] for k in generated}
        for (job, g), s in zip(flat, scores, strict=True):
            scored[job.key].append(Scored(g.text, float(g.logprob), None if s is None else float(s)))
        return [scored[j.key] for j in jobs]

    def score(self, triples: list[tuple[str, str, str]]) -> list[float | None]:
        if self.critic is None or not triples:
            return [None] * len(triples)
        return [float(s) for s in self.critic.score(triples)]

    async def run(self, fn: Callable[[*Ts], R], *args: *Ts) -> R:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class CompletionService:
    """Answers `complete`: the graph first, the student for what the graph lacks (or for all, if asked)."""

    def __init__(
        self,
        graph: AsyncGraph,
        models: Models,
        window_s: float,
        max_batch: int,
        cache_size: int,
        on_batch: Callable[[int, float], None] | None = None,
        on_cache: Callable[[int, int], None] | None = None,
        max_queue: int = 0,
        timeout_s: float | None = None,
    ) -> None:
        self.graph = graph
        self.models = models
        self.timeout_s = timeout_s
        self.cache: LruCache[tuple[str, str, int], list[Scored]] = LruCache(cache_size)
        #: what the student generated lately, by (event key, relation, text key): a write-back of one of
        #: these is the student's text, anything else the client's
        self.generated: LruCache[tuple[str, str, str], bool] = LruCache(max(cache_size, 1) * 8)
        self.batcher: MicroBatcher[Job, list[Scored]] = MicroBatcher(
            models.generate_scored, models.executor, window_s, max_batch, on_batch=on_batch, max_queue=max_queue
        )
        self._on_cache = on_cache

    @property
    def live_available(self) -> bool:
        return self.models.student is not None

    async def generate(self, jobs: list[Job]) -> tuple[list[list[Scored]], int]:
        """Live generations for `jobs`, from the cache where possible; also returns the cache hits."""
        out: list[list[Scored] | None] = [self.cache.get(j.key) for j in jobs]
        hits = sum(o is not None for o in out)
        if self._on_cache is not None:
            self._on_cache(hits, len(jobs) - hits)
        missing = [i for i, o in enumerate(out) if o is None]
        pending = [asyncio.ensure_future(self.batcher.submit(jobs[i])) for i in missing]
        try:
            fresh = await asyncio.wait_for(asyncio.gather(*pending), self.timeout_s)
        except TimeoutError:
            raise DeadlineError(
                f"live generation did not finish within {self.timeout_s:g} s; try fewer relations or a smaller n"
            ) from None
        except BaseException:
            for p in pending:  # the others of a refused or failed request need not run either
                p.cancel()
            raise
        for i, result in zip(missing, fresh, strict=True):
            self.cache.put(jobs[i].key, result)
            out[i] = result
        answers = [o or [] for o in out]
        for job, gens in zip(jobs, answers, strict=True):
            for g in gens:
                self.generated.put((text_key(job.event), job.relation, text_key(g.text)), True)
        return answers, hits

    async def complete(
        self,
        text: str,
        relations: list[Relation] | None,
        n: int,
        min_score: float | None,
        live_for_all: bool = False,
        normalise: bool = True,
    ) -> EventCompletion:
        """The completion of `text`, read as an ATOMIC event first (`normalise`: "I lent my neighbour a
        ladder" is looked up and generated as "PersonX lends PersonY a ladder")."""
        reading = normalise_event(text) if normalise else Normalised(text)
        event = reading.text
        # the seven relations the paper distils when none are asked for
        rels = list(relations) if relations else [get_relation(name) for name in PAPER_RELATIONS]
        key = text_key(event)
        stored = (await self.graph.inferences_of_events([key], rels, None, None)).get(key, [])
        in_graph = bool(stored) or bool(await self.graph.events([key]))
        stored = await self._scored(event, stored)
        kept = [e for e in stored if _passes(e.score, min_score)]
        by_rel: dict[str, list[Edge]] = {r.name: [] for r in rels}
        for e in kept:
            by_rel[e.relation].append(e)
        inferences = [
            Completed(e.relation, e.tail, e.score, Origin.GRAPH, sources=list(e.sources))
            for r in rels
            for e in by_rel[r.name][:n]
        ]
        live_rels = [r.name for r in rels if live_for_all or not by_rel[r.name]]
        cached, notice = 0, None
        if not self.live_available:
            notice = "live generation is off: no student is loaded (set SKD_STUDENT_PATH); answered from the graph only"
            live_rels = []
        elif live_rels:
            results, cached = await self.generate([Job(event, r, n) for r in live_rels])
            for rel, gens in zip(live_rels, results, strict=True):
                seen = {text_key(e.tail) for e in by_rel[rel]}
                for g in gens:
                    if text_key(g.text) in seen or not _passes(g.score, min_score):
                        continue
                    seen.add(text_key(g.text))
                    inferences.append(
                        Completed(rel, g.text, g.score, Origin.STUDENT, logprob=g.logprob, sources=["student"])
                    )
        return EventCompletion(
            input=text,
            interpretation=reading.changes,
            event=event,
            key=key,
            in_graph=in_graph,
            inferences=inferences,
            relations=[r.name for r in rels],
            live_available=self.live_available,
            live_relations=live_rels,
            cached=cached,
            student=self.models.student_name,
            critic=self.models.critic_name,
            notice=notice,
        )

    async def _scored(self, event: str, edges: list[Edge]) -> list[Edge]:
        """Stored edges with a critic score where the graph has none (and a critic is loaded)."""
        todo = [i for i, e in enumerate(edges) if e.score is None]
        if not todo or self.models.critic is None:
            return edges
        scores = await self.models.run(self.models.score, [(event, edges[i].relation, edges[i].tail) for i in todo])
        out = list(edges)
        for i, s in zip(todo, scores, strict=True):
            e = out[i]
            out[i] = dataclasses.replace(e, score=s)
        return out

    async def write_back(self, items: list[tuple[str, str, str]], min_score: float | None) -> list[tuple[Triple, bool]]:
        """Store generations, scored again by the critic (a client's score is not trusted), in run `service`.

        A text the loaded student generated lately for that event and relation is stored as source
        `student`, with the student's name in `teachers`; any other text is the client's own and is
        stored as source `client`, with no teacher. With `min_score`, those scoring below it are not stored.
        """
        scores = await self.models.run(self.models.score, items)
        name = self.models.student_name
        triples = []
        for (h, r, t), s in zip(items, scores, strict=True):
            by_student = name is not None and self.generated.get((text_key(h), r, text_key(t))) is not None
            triples.append(
                Triple(
                    head=h,
                    relation=r,
                    tail=t,
                    score=s,
                    sources=["student" if by_student else "client"],
                    teachers=[name] if by_student and name else [],
                    runs=["service"],
                )
            )
        accepted = [_passes(t.score, min_score) for t in triples]
        await self.graph.upsert([t for t, ok in zip(triples, accepted, strict=True) if ok])
        return list(zip(triples, accepted, strict=True))

    async def aclose(self) -> None:
        await self.batcher.aclose()
        self.models.close()


def _passes(score: float | None, min_score: float | None) -> bool:
    return min_score is None or (score is not None and score >= min_score)
