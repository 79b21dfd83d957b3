"""An on-disk cache of teacher requests (sqlite3), so that a rerun or resumed run never pays twice."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skd.core.errors import SkdError
from skd.models.teacher import Teacher, TeacherSample

__all__ = ["CachedTeacher", "RequestCache", "open_request_cache", "request_key"]


def request_key(teacher: str, prompt: str, params: dict[str, Any]) -> str:
    """The identity of a request: the teacher's identity (endpoint, API mode, model, weights), the prompt
    and the decoding parameters."""
    blob = json.dumps({"teacher": teacher, "prompt": prompt, **params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class RequestCache:
    """Key -> list of completions, in one sqlite file shared safely by several processes (WAL mode)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS requests (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> list[TeacherSample] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM requests WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return [TeacherSample(**c) for c in json.loads(row[0])]

    def get_many(self, keys: Sequence[str]) -> list[list[TeacherSample] | None]:
        """`get` for each key, in a few queries instead of one per key."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for i in range(0, len(unique), 500):  # well under sqlite's limit on parameters
                chunk = unique[i : i + 500]
                marks = ",".join("?" * len(chunk))
                found.update(self._db.execute(f"SELECT key, value FROM requests WHERE key IN ({marks})", chunk))
        out: list[list[TeacherSample] | None] = []
        for k in keys:
            value = found.get(k)
            if value is None:
                self.misses += 1
                out.append(None)
            else:
                self.hits += 1
                out.append([TeacherSample(**c) for c in json.loads(value)])
        return out

    def put(self, key: str, completions: Sequence[TeacherSample]) -> None:
        self.put_many([(key, completions)])

    def put_many(self, items: Sequence[tuple[str, Sequence[TeacherSample]]]) -> None:
        """Store several answers in one transaction: one commit (and fsync) for a whole batch of requests,
        not one per request, which cost more than the request itself against a fast endpoint."""
        rows = [(k, json.dumps([c.to_json() for c in cs], ensure_ascii=False)) for k, cs in items]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO requests (key, value) VALUES (?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM requests").fetchone()[0])

    def __bool__(self) -> bool:  # an empty cache is still a cache
        return True

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedTeacher:
    """A teacher that answers repeated requests from a `RequestCache` and sends only the misses on."""

    def __init__(self, inner: Teacher, cache: RequestCache) -> None:
        self.inner, self.cache = inner, cache
        self.name, self.identity = inner.name, inner.identity

    def __getattr__(self, attr: str) -> Any:  # usage, budget, model... of the wrapped teacher
        return getattr(self.inner, attr)

    async def complete(
        self, prompts: Sequence[str], *, n: int, max_tokens: int, temperature: float, top_p: float, stop: Sequence[str]
    ) -> list[list[TeacherSample]]:
        params = dict(n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=list(stop))
        keys = [request_key(self.inner.identity, p, params) for p in prompts]
        out: list[list[TeacherSample] | None] = self.cache.get_many(keys)
        todo = [i for i, got in enumerate(out) if got is None]
        if todo:
            try:
                fresh = await self.inner.complete([prompts[i] for i in todo], **params)  # type: ignore[arg-type]
            except SkdError as e:
                # keep what was paid for before the failure (a cap, an endpoint giving up)
                partial = zip(todo, getattr(e, "partial", None) or [], strict=False)
                self.cache.put_many([(keys[i], c) for i, c in partial if c is not None])
                raise
            for i, completions in zip(todo, fresh, strict=True):
                out[i] = completions
            self.cache.put_many([(keys[i], completions) for i, completions in zip(todo, fresh, strict=True)])
        return [c or [] for c in out]


def open_request_cache(cache: RequestCache | Path | None) -> RequestCache | None:
    """The cache a run uses: a given one, one at a given path (`Settings.request_cache_path`), or none."""
    if cache is None or isinstance(cache, RequestCache):
        return cache
    return RequestCache(Path(cache))
