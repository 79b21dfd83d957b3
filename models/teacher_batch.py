"""A teacher over the OpenAI Batch API (`openai-batch:<model>`): half the price, hours instead of seconds.

Each `complete` call becomes one batch job (more when it exceeds the API's per-file limits): its requests
are written as a JSONL input file (`{"custom_id", "method": "POST", "url", "body"}` a line), uploaded
(`files.create(purpose="batch")`), submitted (`batches.create(completion_window="24h")`), polled with a
growing interval until the batch is terminal, and its output and error files are downloaded and mapped
back to the prompts by `custom_id`. A request that failed (a line of the error file, a non-200 line in
the output, a line missing or unreadable) is tried again in a later batch, at most `max_attempts` batches
in all; a request the API refused for good (400, 401, 403, 404, 422) is not. An `expired` batch gives
what it finished, and the rest goes into the next batch; a `failed` batch (its input was refused) and a
batch cancelled by someone else end the call with a `TeacherError`.

Every batch is recorded in a `BatchJournal` before and after it is created: the run folder's manifest
when a generation stage attaches one (`skd.ingest.run.ManifestJournal`). A `custom_id` is a hash of the
teacher's identity, the prompt and the decoding parameters, so a process killed mid-way and started again
asks for the same ids, finds them in the journal, and polls (or downloads) those batches instead of
submitting and paying for them twice. A recorded input file with no batch id (a kill between the upload
and the answer to `batches.create`) is looked up in `batches.list` by its file id.

Caps (`Budget`) are applied before a batch is submitted: the request cap exactly, the token and cost caps
to a worst-case estimate of each request (its prompt's UTF-8 bytes / 3, plus `n * max_tokens`), so a
batch never starts that could cross them; spending is then counted from the usage the API reports.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import openai

from skd.core.errors import BudgetExceededError, ConfigError, SkdError, TeacherError
from skd.models.batch_journal import BatchJournal, FileJournal, MemoryJournal
from skd.models.batch_lines import Failure, Results, input_files, read_results, request_line
from skd.models.teacher import Budget, TeacherSample, Usage
from skd.models.teacher_openai import CHAT_SYSTEM, retry_after_s

if TYPE_CHECKING:
    from openai.types import Batch

    from skd.core.settings import Settings

__all__ = [
    "API_MAX_BYTES",
    "API_MAX_REQUESTS",
    "BatchJournal",
    "BatchPendingError",
    "FileJournal",
    "MemoryJournal",
    "OpenAIBatchTeacher",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: the API's limits on one batch input file
API_MAX_REQUESTS, API_MAX_BYTES = 50_000, 200_000_000
ENDPOINTS = {"completion": "/v1/completions", "chat": "/v1/chat/completions"}
TERMINAL = frozenset({"completed", "expired", "failed", "cancelled"})
#: record states of ours beside the API's batch statuses: uploaded (no batch id yet), abandoned (none was made)
UPLOADED, ABANDONED = "uploaded", "abandoned"


class BatchPendingError(TeacherError):
    """Batches were still running when the teacher stopped waiting (`wait_s`); they stay recorded, and
    asking again (running the same command) resumes polling them."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _transient(e: Exception) -> tuple[bool, float | None]:
    """Whether a failed API call is worth another try, and the server's Retry-After if it sent one."""
    if isinstance(e, openai.APITimeoutError | openai.APIConnectionError):
        return True, None
    if isinstance(e, openai.APIStatusError) and (e.status_code in (408, 409, 429) or e.status_code >= 500):
        return True, retry_after_s(e.response.headers)
    return False, None


def _api_message(e: Exception) -> str:
    """One short line for an API error: its status and the server's own message."""
    if isinstance(e, openai.APIStatusError):
        body = e.body if isinstance(e.body, dict) else {}
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        message = inner.get("message") if isinstance(inner, dict) else None
        return f"{e.status_code} {message or e.message}"
    return str(e) or type(e).__name__


class OpenAIBatchTeacher:
    """`complete` submits its prompts as Batch API jobs and waits for them; see the module docstring."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None,
        api_key: str | None,
        organization: str | None = None,
        project: str | None = None,
        mode: Literal["completion", "chat"] = "completion",
        max_retries: int = 5,
        timeout_s: float = 60.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        logprobs: bool = True,
        budget: Budget | None = None,
        poll_s: float = 15.0,
        poll_max_s: float = 300.0,
        max_attempts: int = 3,
        wait_s: float | None = None,
        max_requests_per_batch: int = API_MAX_REQUESTS,
        max_bytes_per_batch: int = API_MAX_BYTES,
        journal: BatchJournal | None = None,
    ) -> None:
        if not model:
            raise ConfigError("no teacher model given (openai-batch:<model>)")
        if mode not in ENDPOINTS:
            raise ConfigError(f"teacher API mode must be 'completion' or 'chat', not {mode!r}")
        if max_attempts < 1 or max_requests_per_batch < 1 or max_bytes_per_batch < 1:
            raise ConfigError("batch attempts, requests per batch and bytes per batch must be at least 1")
        self.model, self.mode = model, mode
        self.endpoint = ENDPOINTS[mode]
        self.name = f"openai-batch:{model}"
        self.base_url, self._api_key = base_url, api_key
        self.organization, self.project = organization, project
        self._headers: dict[str, Any] = {} if api_key else {"Authorization": openai.Omit()}
        self.identity = json.dumps(
            {"kind": "openai-batch", "base_url": (base_url or "").rstrip("/"), "mode": mode, "model": model},
            sort_keys=True,
        )
        self.max_retries, self.timeout_s = max_retries, timeout_s
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.logprobs = logprobs
        self.budget = budget or Budget()
        self.poll_s, self.poll_max_s = poll_s, max(poll_s, poll_max_s)
        self.max_attempts, self.wait_s = max_attempts, wait_s
        self.max_requests_per_batch, self.max_bytes_per_batch = max_requests_per_batch, max_bytes_per_batch
        self.usage = Usage()
        self.batches: list[str] = []  # the batches this teacher created, in order (logs, tests)
        self.waits: list[float] = []  # every back-off after a failed API call
        self.journal: BatchJournal = journal or MemoryJournal()
        self._records: list[dict[str, Any]] | None = None
        self._by_id: dict[str, list[dict[str, Any]]] = {}

    @classmethod
    def from_settings(
        cls, model: str, settings: Settings, mode: str | None = None, **kwargs: Any
    ) -> OpenAIBatchTeacher:
        key, base_url = settings.teacher_key, settings.teacher_endpoint
        if not base_url and not key:
            raise ConfigError(
                "an openai-batch: teacher on OpenAI's own API needs a key (OPENAI_API_KEY or SKD_TEACHER_API_KEY); "
                "for a server of your own set OPENAI_BASE_URL or SKD_TEACHER_BASE_URL"
            )
        budget = Budget.from_settings(settings)
        budget.price_per_1k_prompt *= settings.teacher_batch_price_factor
        budget.price_per_1k_completion *= settings.teacher_batch_price_factor
        opts: dict[str, Any] = dict(
            base_url=base_url,
            api_key=key,
            organization=settings.openai_org_id,
            project=settings.openai_project_id,
            mode=mode or settings.teacher_api_mode,
            max_retries=settings.teacher_max_retries,
            timeout_s=settings.teacher_timeout_s,
            backoff_base_s=settings.teacher_backoff_base_s,
            backoff_max_s=settings.teacher_backoff_max_s,
            logprobs=settings.teacher_logprobs,
            budget=budget,
            poll_s=settings.teacher_batch_poll_s,
            poll_max_s=settings.teacher_batch_poll_max_s,
            max_attempts=settings.teacher_batch_max_attempts,
            wait_s=settings.teacher_batch_wait_s,
            max_requests_per_batch=settings.teacher_batch_max_requests,
            max_bytes_per_batch=settings.teacher_batch_max_bytes,
        )
        opts.update(kwargs)
        return cls(model, **opts)

    # -- the journal ----------------------------------------------------------------------------------
    def attach_journal(self, journal: BatchJournal | None) -> BatchJournal:
        """Record batches in `journal` from now on (None: in memory); returns the journal used until now."""
        previous, self.journal = self.journal, journal or MemoryJournal()
        self._records, self._by_id = None, {}
        return previous

    def _load(self) -> list[dict[str, Any]]:
        if self._records is None:
            self._records = self.journal.load()
            self._by_id = {}
            for rec in self._records:
                self._index(rec)
        return self._records

    def _index(self, rec: dict[str, Any]) -> None:
        for cid in rec.get("custom_ids", []):
            self._by_id.setdefault(cid, []).append(rec)

    def _save(self) -> None:
        self.journal.save(self._load())

    def custom_id(self, prompt: str, params: dict[str, Any]) -> str:
        """The request's id in batch files: a hash of this teacher's identity, the prompt and the decoding
        parameters, so the same request asked again (a resumed run) has the same id."""
        blob = json.dumps({"teacher": self.identity, "prompt": prompt, **params}, sort_keys=True, ensure_ascii=False)
        return "skd-" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]

    # -- the teacher interface ------------------------------------------------------------------------
    async def complete(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_tokens: int = 32,
        temperature: float = 0.9,
        top_p: float = 0.95,
        stop: Sequence[str] = (),
    ) -> list[list[TeacherSample]]:
        params: dict[str, Any] = dict(n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=list(stop))
        ids = [self.custom_id(p, params) for p in prompts]
        prompt_of: dict[str, str] = {}
        for cid, p in zip(ids, prompts, strict=True):
            prompt_of.setdefault(cid, p)
        got: dict[str, list[TeacherSample]] = {}
        # a client per call, as OpenAITeacher does: its pool belongs to this event loop
        async with openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._api_key or "not-sent",
            organization=self.organization,
            project=self.project,
            max_retries=0,
            timeout=self.timeout_s,
        ) as client:
            try:
                await _Call(self, client, prompt_of, params, got).run()
            except SkdError as e:
                # what was finished is handed on (the request cache keeps it), the rest is None
                e.partial = [got.get(c) for c in ids]  # type: ignore[attr-defined]
                raise
        return [got[c] for c in ids]

    # -- the pieces a call uses -----------------------------------------------------------------------
    def body(self, prompt: str, params: dict[str, Any]) -> dict[str, Any]:
        """The request body of one line, as OpenAITeacher would send it."""
        body: dict[str, Any] = {
            "model": self.model,
            "n": params["n"],
            "max_tokens": params["max_tokens"],
            "temperature": params["temperature"],
            "top_p": params["top_p"],
        }
        if params["stop"]:
            body["stop"] = list(params["stop"])[:4]  # servers apply at most 4; the rest are applied here
        if self.mode == "chat":
            body["messages"] = [{"role": "system", "content": CHAT_SYSTEM}, {"role": "user", "content": prompt}]
            if self.logprobs:
                body["logprobs"] = True
        else:
            body["prompt"] = prompt
            if self.logprobs:
                body["logprobs"] = 1
        return body

    def estimate(self, prompt: str, params: dict[str, Any]) -> tuple[int, float]:
        """The most tokens one request could use (prompt bytes / 3 plus n * max_tokens) and its cost."""
        text = prompt + (CHAT_SYSTEM if self.mode == "chat" else "")
        p_tok = math.ceil(len(text.encode("utf-8")) / 3) + 8
        c_tok = int(params["n"]) * int(params["max_tokens"])
        cost = (p_tok * self.budget.price_per_1k_prompt + c_tok * self.budget.price_per_1k_completion) / 1000.0
        return p_tok + c_tok, cost

    async def api(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """One API call, tried again on time-outs, lost connections, 408, 409, 429 and 5xx with exponential
        back-off and full jitter (never sooner than Retry-After); anything else is a one-line TeacherError."""
        attempt = 0
        while True:
            try:
                return await fn()
            except openai.OpenAIError as e:
                again, wait = _transient(e)
                if not again or attempt >= self.max_retries:
                    raise self._error(what, e, attempt + 1) from e
                delay = max(random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**attempt)), wait or 0.0)
                log.info("%s: %s: %s; retry %d in %.2fs", self.name, what, type(e).__name__, attempt + 1, delay)
                self.usage.retries += 1
                self.waits.append(delay)
                attempt += 1
                await asyncio.sleep(delay)

    def _error(self, what: str, e: Exception, tries: int) -> TeacherError:
        resume = "the batches submitted so far are recorded: run again to resume them"
        if isinstance(e, openai.APIConnectionError | openai.APITimeoutError):
            where = self.base_url or "api.openai.com"
            return TeacherError(f"{self.name}: cannot reach the Batch API at {where} ({what}, {tries} tries); {resume}")
        if isinstance(e, openai.AuthenticationError | openai.PermissionDeniedError):
            return TeacherError(
                f"{self.name}: {what}: the API refused the credentials ({_api_message(e)}); "
                "check OPENAI_API_KEY or SKD_TEACHER_API_KEY"
            )
        if isinstance(e, openai.NotFoundError):
            return TeacherError(f"{self.name}: {what}: not found ({_api_message(e)})")
        return TeacherError(f"{self.name}: {what} failed after {tries} tries ({_api_message(e)}); {resume}")


class _Call:
    """One `complete` call: adopt recorded batches, submit the rest (split, within the caps), wait, retry."""

    def __init__(
        self,
        teacher: OpenAIBatchTeacher,
        client: openai.AsyncOpenAI,
        prompt_of: dict[str, str],
        params: dict[str, Any],
        got: dict[str, list[TeacherSample]],
    ) -> None:
        self.t, self.client, self.prompt_of, self.params, self.got = teacher, client, prompt_of, params, got
        self.stop: list[str] = list(params["stop"])
        self.attempts = dict.fromkeys(prompt_of, 0)
        self.deadline = time.monotonic() + teacher.wait_s if teacher.wait_s else None
        #: the batches (record ids) seen running in this call: a cancel seen now is an error, one from before is not
        self.live: set[int] = set()
        self.reserved_tokens, self.reserved_cost = 0, 0.0

    async def run(self) -> None:
        t = self.t
        active = await self._adopt()
        covered = {cid for rec in active for cid in rec["custom_ids"] if cid in self.attempts}
        for cid in covered:
            self.attempts[cid] = 1
        # what the adopted batches still running will spend counts against the caps until they are collected
        for rec in active:
            if not rec.get("processed"):
                for cid in rec["custom_ids"]:
                    if cid in self.prompt_of:
                        tokens, cost = t.estimate(self.prompt_of[cid], self.params)
                        self.reserved_tokens += tokens
                        self.reserved_cost += cost
        todo = [cid for cid in self.prompt_of if cid not in covered]
        capped: BudgetExceededError | None = None
        while True:
            if todo:
                allowed, cap = self._allowance(todo)
                capped = capped or cap
                submit, todo = todo[:allowed], []
                for cid in submit:
                    self.attempts[cid] += 1
                active += await self._submit(submit)
            if not active:
                break
            failures = await self._wait(active)
            active, self.reserved_tokens, self.reserved_cost = [], 0, 0.0
            failed = {cid: f for cid, f in failures.items() if cid not in self.got and cid in self.attempts}
            final = {cid: f for cid, f in failed.items() if not f.retry or self.attempts[cid] >= t.max_attempts}
            if final:
                raise TeacherError(self._failure_message(final))
            todo = [cid for cid in self.prompt_of if cid in failed]
            if todo:
                log.info("%s: %d requests failed; trying them in another batch", t.name, len(todo))
        missing = [cid for cid in self.prompt_of if cid not in self.got]
        if missing:
            raise capped or TeacherError(f"{t.name}: {len(missing)} requests were never answered")

    def _failure_message(self, final: dict[str, Failure]) -> str:
        ids = list(final)
        shown = ", ".join(f"{cid} ({final[cid].reason})" for cid in ids[:3])
        more = f" and {len(ids) - 3} more" if len(ids) > 3 else ""
        tries = max(self.attempts[cid] for cid in ids)
        return (
            f"{self.t.name}: {len(ids)} requests failed (after {tries} batch{'es' if tries > 1 else ''}): "
            f"{shown}{more}; the answered ones are kept, run again to ask the rest"
        )

    # -- recorded batches ---------------------------------------------------------------------------------
    async def _adopt(self) -> list[dict[str, Any]]:
        """The recorded batches holding any of this call's requests that can still answer them: running
        ones, finished ones with an output to download again, and uploads that became a batch."""
        t = self.t
        t._load()
        seen: set[int] = set()
        chosen: list[dict[str, Any]] = []
        for cid in self.prompt_of:
            for rec in t._by_id.get(cid, ()):
                if id(rec) in seen:
                    continue
                seen.add(id(rec))
                status = rec.get("status")
                if status in ("failed", ABANDONED) or (status in TERMINAL and not rec.get("output_file_id")):
                    continue
                if not rec.get("batch_id"):
                    batch = await self._find_batch(rec["input_file_id"])
                    if batch is None:
                        rec["status"] = ABANDONED
                        t._save()
                        continue
                    rec.update(batch_id=batch.id, status=batch.status, updated=_now())
                    t._save()
                if not rec.get("processed"):
                    # its submitting process died before its usage reached the manifest: counted here
                    t.usage.requests += len(rec["custom_ids"])
                log.info("%s: resuming batch %s (%s)", t.name, rec["batch_id"], rec.get("status"))
                if rec.get("status") not in TERMINAL:
                    self.live.add(id(rec))
                chosen.append(rec)
        return chosen

    async def _find_batch(self, file_id: str) -> Batch | None:
        """The batch made from an uploaded input file, if the API has one (newest first, 1,000 at most)."""

        async def search() -> Batch | None:
            scanned = 0
            async for batch in self.client.batches.list(limit=100, extra_headers=self.t._headers):
                if batch.input_file_id == file_id:
                    return batch
                scanned += 1
                if scanned >= 1000:
                    break
            return None

        return await self.t.api("looking up the batch of an uploaded file", search)

    # -- caps -------------------------------------------------------------------------------------------
    def _allowance(self, todo: list[str]) -> tuple[int, BudgetExceededError | None]:
        """How many of `todo` (a prefix) fit under the caps, and the cap that stopped the rest."""
        b, u = self.t.budget, self.t.usage
        requests, tokens, cost = u.requests, u.tokens + self.reserved_tokens, u.cost + self.reserved_cost
        for k, cid in enumerate(todo):
            est_tokens, est_cost = self.t.estimate(self.prompt_of[cid], self.params)
            if b.max_requests is not None and requests + 1 > b.max_requests:
                return k, BudgetExceededError(f"request cap reached ({requests} of {b.max_requests})")
            if b.max_tokens is not None and tokens + est_tokens > b.max_tokens:
                return k, BudgetExceededError(
                    f"token cap reached ({tokens} used or reserved, a request may need {est_tokens}, "
                    f"cap {b.max_tokens})"
                )
            if b.max_cost is not None and cost + est_cost > b.max_cost:
                return k, BudgetExceededError(
                    f"cost cap reached (${cost:.4f} used or reserved, a request may cost ${est_cost:.4f}, "
                    f"cap ${b.max_cost:.4f})"
                )
            requests, tokens, cost = requests + 1, tokens + est_tokens, cost + est_cost
        return len(todo), None

    # -- submitting -------------------------------------------------------------------------------------
    def _files(self, cids: list[str]) -> Iterator[tuple[list[str], bytes]]:
        """The input files for `cids`, in order, each within the per-batch request and byte limits, made one
        at a time as `_submit` uploads them (its lines too), so only one file's requests are in memory."""
        t = self.t
        lines = ((cid, request_line(cid, t.endpoint, t.body(self.prompt_of[cid], self.params))) for cid in cids)
        try:
            yield from input_files(lines, t.max_requests_per_batch, t.max_bytes_per_batch)
        except ValueError as e:
            raise TeacherError(f"{t.name}: {e}") from e

    async def _submit(self, cids: list[str]) -> list[dict[str, Any]]:
        t = self.t
        records = []
        for ids, data in self._files(cids):
            name = f"skd-{hashlib.sha256(''.join(ids).encode()).hexdigest()[:16]}.jsonl"
            uploaded = await t.api(
                "uploading a batch input file",
                functools.partial(
                    self.client.files.create,
                    file=(name, data, "application/jsonl"),
                    purpose="batch",
                    extra_headers=t._headers,
                    timeout=max(t.timeout_s, 600.0),
                ),
            )
            rec: dict[str, Any] = {
                "teacher": t.name,
                "endpoint": t.endpoint,
                "input_file_id": uploaded.id,
                "batch_id": None,
                "status": UPLOADED,
                "requests": len(ids),
                "bytes": len(data),
                "attempt": max(self.attempts[c] for c in ids),
                "created": _now(),
                "custom_ids": ids,
            }
            t._load().append(rec)
            t._index(rec)
            t._save()  # before the batch exists: a kill from here on finds it again by its file id
            batch = await self._create(uploaded.id)
            t.usage.requests += len(ids)
            t.batches.append(batch.id)
            rec.update(batch_id=batch.id, status=batch.status, updated=_now())
            t._save()
            log.info("%s: batch %s submitted (%d requests, %d bytes)", t.name, batch.id, len(ids), len(data))
            self.live.add(id(rec))
            records.append(rec)
            del data  # before the next file is made
        return records

    async def _create(self, file_id: str) -> Batch:
        """`batches.create`, tried again only after checking that a lost answer did not hide a batch made."""
        t = self.t
        attempt = 0
        while True:
            try:
                return await self.client.batches.create(
                    input_file_id=file_id,
                    endpoint=t.endpoint,  # type: ignore[arg-type]
                    completion_window="24h",
                    metadata={"skd_teacher": t.name[:512]},
                    extra_headers=t._headers,
                )
            except openai.OpenAIError as e:
                again, wait = _transient(e)
                if not again or attempt >= t.max_retries:
                    raise t._error("creating a batch", e, attempt + 1) from e
                delay = max(random.uniform(0, min(t.backoff_max_s, t.backoff_base_s * 2**attempt)), wait or 0.0)
                t.usage.retries += 1
                t.waits.append(delay)
                attempt += 1
                await asyncio.sleep(delay)
                found = await self._find_batch(file_id)
                if found is not None:
                    return found

    # -- waiting and collecting ------------------------------------------------------------------------
    async def _wait(self, records: list[dict[str, Any]]) -> dict[str, Failure]:
        """Poll until every batch is terminal, collecting answers into `got`; returns what failed."""
        t = self.t
        failures: dict[str, Failure] = {}
        pending = list(records)
        delay = t.poll_s
        problem: TeacherError | None = None
        while pending:
            still = []
            for rec in pending:
                batch = await t.api(
                    f"checking batch {rec['batch_id']}",
                    functools.partial(self.client.batches.retrieve, rec["batch_id"], extra_headers=t._headers),
                )
                if batch.status != rec.get("status"):
                    counts = batch.request_counts
                    rec.update(
                        status=batch.status,
                        updated=_now(),
                        request_counts=counts.model_dump() if counts is not None else None,
                    )
                    t._save()
                if batch.status not in TERMINAL:
                    still.append(rec)
                    continue
                problem = problem or await self._collect(rec, batch, failures)
            pending = still
            if pending:
                if self.deadline is not None and time.monotonic() + delay > self.deadline:
                    ids = ", ".join(r["batch_id"] for r in pending)
                    raise BatchPendingError(
                        f"{t.name}: batches {ids} are still running after {t.wait_s:g} s; "
                        "they are recorded: run the same command again to resume polling them"
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, t.poll_max_s)
        if problem is not None:
            raise problem
        return failures

    async def _collect(self, rec: dict[str, Any], batch: Batch, failures: dict[str, Failure]) -> TeacherError | None:
        """Download a terminal batch's files into `got` and `failures`; a failed batch, or one cancelled
        while we waited, is returned as the error to raise once the other batches are collected."""
        t = self.t
        live = id(rec) in self.live
        if batch.status == "failed":
            errors = list((batch.errors.data or []) if batch.errors else [])
            first = errors[0] if errors else None
            why = (
                f"{first.code or 'error'}: {first.message or ''}" + (f" (line {first.line})" if first.line else "")
                if first
                else "no reason given"
            )
            rec.update(processed=True, errors=[e.model_dump() for e in errors[:10]])
            t._save()
            return TeacherError(f"{t.name}: batch {batch.id} failed: {why}".rstrip())
        ids = set(rec["custom_ids"])
        results = Results()
        for kind, file_id in (("output", batch.output_file_id), ("error", batch.error_file_id)):
            if file_id:
                content = await t.api(
                    f"downloading the {kind} file of batch {batch.id}",
                    functools.partial(self.client.files.content, file_id, extra_headers=t._headers),
                )
                read_results(content.text, f"{kind} file {file_id}", ids, t.mode, self.stop, results)
        results.missing(rec["custom_ids"], batch.status)
        charge = not rec.get("processed")  # downloading a processed batch again costs nothing
        spent = dict(prompt_tokens=0, completion_tokens=0, cost=0.0)
        for cid, answer in results.answers.items():
            if charge:
                cost0 = t.usage.cost
                t.budget.charge(t.usage, answer.prompt_tokens, answer.completion_tokens)
                spent["prompt_tokens"] += answer.prompt_tokens
                spent["completion_tokens"] += answer.completion_tokens
                spent["cost"] += t.usage.cost - cost0
            if cid in self.attempts:
                self.got.setdefault(cid, answer.samples)
                failures.pop(cid, None)
        for cid, failure in results.failures.items():
            if cid in self.attempts and cid not in self.got:
                # a batch that had ended before this call was reported then: asked again, its failures are retried
                failures[cid] = failure if live else Failure(failure.reason, True)
        answered, failed, notes = len(results.answers), len(results.failures), results.notes
        counts = batch.request_counts
        rec.update(
            status=batch.status,
            output_file_id=batch.output_file_id,
            error_file_id=batch.error_file_id,
            request_counts=counts.model_dump() if counts is not None else None,
            answered=answered,
            failed=failed,
            updated=_now(),
        )
        if notes:
            rec["notes"] = notes[:5]
        if charge:
            rec.update(processed=True, usage={**spent, "cost": round(spent["cost"], 6)})
        t._save()
        if batch.status == "cancelled" and live:
            return TeacherError(
                f"{t.name}: batch {batch.id} was cancelled outside skd; its {answered} answered requests are kept, "
                "run again to submit the rest"
            )
        return None
