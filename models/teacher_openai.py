"""A teacher over any OpenAI-compatible endpoint: bounded concurrency, retries with backoff, metered usage."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import openai

from skd.core.errors import BudgetExceededError, ConfigError, SkdError, TeacherError
from skd.models.teacher import Budget, TeacherSample, Usage, truncate_at_stop

if TYPE_CHECKING:
    from skd.core.settings import Settings

log = logging.getLogger(__name__)

#: A chat model gets the completion prompt as its user message, with this instruction.
CHAT_SYSTEM = (
    "Continue the text the user gives. Reply with the continuation only: no preamble, "
    "no explanation, no repetition of the user's text."
)


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a server asked us to wait (`retry-after-ms`, `retry-after` in seconds or as a date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _retryable(e: Exception) -> tuple[bool, float | None]:
    """Whether an error is worth another try, and the server's Retry-After if it sent one."""
    if isinstance(e, openai.APITimeoutError | openai.APIConnectionError):
        return True, None
    if isinstance(e, openai.APIStatusError):
        code = e.status_code
        if code == 429 or code >= 500 or code == 408:
            return True, retry_after_s(e.response.headers)
    return False, None


class OpenAITeacher:
    """`complete` sends one request per prompt (n samples each), at most `concurrency` at a time."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None,
        api_key: str | None,
        organization: str | None = None,
        project: str | None = None,
        mode: Literal["completion", "chat"] = "completion",
        concurrency: int = 16,
        max_retries: int = 5,
        timeout_s: float = 60.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        logprobs: bool = True,
        budget: Budget | None = None,
    ) -> None:
        if not model:
            raise ConfigError("no teacher model given (openai:<model> or SKD_TEACHER_MODEL)")
        if mode not in ("completion", "chat"):
            raise ConfigError(f"teacher API mode must be 'completion' or 'chat', not {mode!r}")
        self.model, self.mode = model, mode
        self.name = f"openai:{model}"
        self.base_url, self._api_key = base_url, api_key
        self.organization, self.project = organization, project
        # with no key, no Authorization header at all (a made-up key would be sent, and logged, as one)
        self._headers: dict[str, Any] = {} if api_key else {"Authorization": openai.Omit()}
        # the default endpoint is the client's own (api.openai.com unless OPENAI_BASE_URL says otherwise)
        self.identity = json.dumps(
            {"kind": "openai", "base_url": (base_url or "").rstrip("/"), "mode": mode, "model": model}, sort_keys=True
        )
        self.concurrency, self.max_retries, self.timeout_s = concurrency, max_retries, timeout_s
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.logprobs = logprobs
        self.budget = budget or Budget()
        self.usage = Usage()
        self.waits: list[float] = []  # every back-off this teacher slept, for logs and tests
        #: what `session()` keeps, by event loop: one client, and the slots all its calls share
        self._sessions: dict[asyncio.AbstractEventLoop, tuple[openai.AsyncOpenAI, asyncio.Semaphore]] = {}

    @classmethod
    def from_settings(cls, model: str, settings: Settings, mode: str | None = None, **kwargs: Any) -> OpenAITeacher:
        key, base_url = settings.teacher_key, settings.teacher_endpoint
        if not base_url and not key:
            raise ConfigError(
                "an openai: teacher on OpenAI's own API needs a key (OPENAI_API_KEY or SKD_TEACHER_API_KEY); "
                "for a server of your own set OPENAI_BASE_URL or SKD_TEACHER_BASE_URL"
            )
        opts: dict[str, Any] = dict(
            base_url=base_url,
            api_key=key,
            organization=settings.openai_org_id,
            project=settings.openai_project_id,
            mode=mode or settings.teacher_api_mode,
            concurrency=settings.teacher_concurrency,
            max_retries=settings.teacher_max_retries,
            timeout_s=settings.teacher_timeout_s,
            backoff_base_s=settings.teacher_backoff_base_s,
            backoff_max_s=settings.teacher_backoff_max_s,
            logprobs=settings.teacher_logprobs,
            budget=Budget.from_settings(settings),
        )
        opts.update(kwargs)
        return cls(model, **opts)

    def _client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._api_key or "not-sent",  # the client insists on one; `_headers` omits it from requests
            organization=self.organization,
            project=self.project,
            max_retries=0,
            timeout=self.timeout_s,
        )

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """One client for every `complete` on this event loop inside the block, instead of one per call: a
        stage asks batch after batch, and each new client built its TLS context again (tens of ms of CPU)
        and opened new connections (a TLS handshake each against a remote endpoint). The calls also share
        the `concurrency` slots, so a caller may ask for its next batch while one is still answered and the
        endpoint never waits for the slowest request of a batch."""
        loop = asyncio.get_running_loop()
        if loop in self._sessions:
            yield
            return
        async with self._client() as client:
            self._sessions[loop] = (client, asyncio.Semaphore(self.concurrency))
            try:
                yield
            finally:
                del self._sessions[loop]

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
        shared = self._sessions.get(asyncio.get_running_loop())
        # a client per call unless a session holds one: its connection pool belongs to this event loop, and
        # the sync wrappers run each call on a fresh loop (asyncio.run), where a pool left from an old loop
        # cannot close
        async with contextlib.nullcontext(shared[0]) if shared is not None else self._client() as client:
            return await self._complete(
                client,
                shared[1] if shared is not None else asyncio.Semaphore(self.concurrency),
                prompts,
                n=n,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                stop=stop,
            )

    async def _complete(
        self,
        client: openai.AsyncOpenAI,
        slots: asyncio.Semaphore,
        prompts: Sequence[str],
        *,
        n: int,
        max_tokens: int,
        temperature: float,
        top_p: float,
        stop: Sequence[str],
    ) -> list[list[TeacherSample]]:
        params = dict(n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=list(stop)[:4] or None)
        results = await asyncio.gather(
            *(self._one(client, slots, p, params, stop) for p in prompts), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            # every request has settled, so nothing is left running; hand the finished ones to the
            # caller (the request cache keeps them) and raise the most telling failure
            error = next((f for f in failures if isinstance(f, BudgetExceededError)), failures[0])
            if isinstance(error, SkdError):
                error.partial = [None if isinstance(r, BaseException) else r for r in results]  # type: ignore[attr-defined]
            raise error
        return results  # type: ignore[return-value]

    async def _one(
        self,
        client: openai.AsyncOpenAI,
        slots: asyncio.Semaphore,
        prompt: str,
        params: dict[str, Any],
        stop: Sequence[str],
    ) -> list[TeacherSample]:
        async with slots:
            samples = await self._request(client, prompt, params, stop)
            # some servers (llama.cpp's, Ollama's) ignore `n` and answer one choice: ask again for the rest
            while 0 < len(samples) < params["n"]:
                more = await self._request(client, prompt, {**params, "n": params["n"] - len(samples)}, stop)
                if not more:
                    break
                samples.extend(more)
            return samples[: params["n"]]

    async def _request(
        self, client: openai.AsyncOpenAI, prompt: str, params: dict[str, Any], stop: Sequence[str]
    ) -> list[TeacherSample]:
        """One request, retried on the errors worth it, metered and checked against the budget."""
        attempt = 0
        while True:
            self.budget.check(self.usage)
            self.usage.requests += 1
            try:
                return self._parse(await self._send(client, prompt, params), stop)
            except openai.OpenAIError as e:
                again, wait = _retryable(e)
                if not again or attempt >= self.max_retries:
                    raise TeacherError(f"{self.name}: request failed after {attempt + 1} tries: {e}") from e
                # full jitter keeps many workers from retrying in step; Retry-After is a floor
                backoff = random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**attempt))
                delay = max(backoff, wait or 0.0)
                log.info("%s: %s; retry %d in %.2fs", self.name, type(e).__name__, attempt + 1, delay)
                self.usage.retries += 1
                self.waits.append(delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _send(self, client: openai.AsyncOpenAI, prompt: str, params: dict[str, Any]) -> Any:
        if self.mode == "chat":
            messages = [{"role": "system", "content": CHAT_SYSTEM}, {"role": "user", "content": prompt}]
            # top_logprobs 0 is OpenAI's default; llama.cpp's server gives no logprobs without it
            extra: dict[str, Any] = {"logprobs": True, "top_logprobs": 0} if self.logprobs else {}
            chat: Any = client.chat.completions  # its overloads cannot see through **params
            return await chat.create(
                model=self.model, messages=messages, extra_headers=self._headers, **params, **extra
            )
        extra = {"logprobs": 1} if self.logprobs else {}
        completions: Any = client.completions
        return await completions.create(model=self.model, prompt=prompt, extra_headers=self._headers, **params, **extra)

    # `resp` is a ChatCompletion or a Completion, which of them chosen at run time by `self.mode`
    def _parse(self, resp: Any, stop: Sequence[str]) -> list[TeacherSample]:
        choices = sorted(resp.choices or [], key=lambda c: c.index or 0)
        usage = getattr(resp, "usage", None)
        p_tok = int(getattr(usage, "prompt_tokens", 0) or 0)
        c_tok = int(getattr(usage, "completion_tokens", 0) or 0)
        self.budget.charge(self.usage, p_tok, c_tok)
        out: list[TeacherSample] = []
        share, rest = divmod(c_tok, max(1, len(choices)))
        for i, ch in enumerate(choices):
            text = ch.message.content if self.mode == "chat" else ch.text
            # servers apply at most 4 stop sequences; apply the full list here too
            out.append(
                TeacherSample(
                    text=truncate_at_stop(text or "", stop),
                    logprob=_logprob(ch, self.mode),
                    prompt_tokens=p_tok if i == 0 else 0,
                    completion_tokens=share + (rest if i == 0 else 0),
                )
            )
        return out


def _logprob(choice: object, mode: str) -> float | None:
    """The sum of the listed tokens' log-probabilities (llama.cpp's server lists the stop sequence's too)."""
    lp = getattr(choice, "logprobs", None)
    if lp is None:
        return None
    if mode == "chat":
        content = getattr(lp, "content", None)
        return float(sum(t.logprob for t in content)) if content else None
    values = [v for v in (getattr(lp, "token_logprobs", None) or []) if v is not None]
    return float(sum(values)) if values else None
