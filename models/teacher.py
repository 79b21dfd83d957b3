"""The teacher interface: a language model that continues prompts, with usage metering and caps.

Three implementations live beside it: `models.teacher_openai` (any OpenAI-compatible endpoint),
`models.teacher_batch` (the OpenAI Batch API) and `models.teacher_local` (a `transformers` causal LM,
batched). `make_teacher` picks one from a spec.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from skd.core.errors import BudgetExceededError, ConfigError

if TYPE_CHECKING:
    from skd.core.settings import Settings

__all__ = ["Budget", "Teacher", "TeacherSample", "Usage", "make_teacher", "run_sync", "truncate_at_stop"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TeacherSample:
    """One sampled continuation of a prompt.

    Token counts are split so that summing them over all completions gives the request totals:
    the first sample of a prompt carries its prompt tokens, later samples carry none.
    """

    text: str
    logprob: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_json(self) -> dict[str, Any]:
        # by hand: `asdict` deep-copies generically, and this runs for every answer the request cache keeps
        return {
            "text": self.text,
            "logprob": self.logprob,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


@runtime_checkable
class Teacher(Protocol):
    """A model that writes `n` continuations of each prompt.

    `name` is what provenance records; `identity` is everything that changes its answers (endpoint,
    API mode, model, weights), which the request cache keys on.
    """

    name: str
    identity: str

    async def complete(
        self, prompts: Sequence[str], *, n: int, max_tokens: int, temperature: float, top_p: float, stop: Sequence[str]
    ) -> list[list[TeacherSample]]: ...


@dataclass(slots=True)
class Usage:
    """What a teacher has spent: requests sent, tokens in and out, estimated cost in dollars."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    retries: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "tokens": self.tokens}


@dataclass(slots=True)
class Budget:
    """Caps on what a teacher may spend in this process; None means no cap.

    Checked before each request, so a run stops cleanly at a cap (BudgetExceededError) and its run
    folder can be resumed later with a larger cap.
    """

    max_requests: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None
    price_per_1k_prompt: float = 0.0
    price_per_1k_completion: float = 0.0

    def check(self, usage: Usage) -> None:
        if self.max_requests is not None and usage.requests >= self.max_requests:
            raise BudgetExceededError(f"request cap reached ({usage.requests} of {self.max_requests})")
        if self.max_tokens is not None and usage.tokens >= self.max_tokens:
            raise BudgetExceededError(f"token cap reached ({usage.tokens} of {self.max_tokens})")
        if self.max_cost is not None and usage.cost >= self.max_cost:
            raise BudgetExceededError(f"cost cap reached (${usage.cost:.4f} of ${self.max_cost:.4f})")

    def charge(self, usage: Usage, prompt_tokens: int, completion_tokens: int) -> None:
        usage.prompt_tokens += prompt_tokens
        usage.completion_tokens += completion_tokens
        usage.cost += (
            prompt_tokens * self.price_per_1k_prompt + completion_tokens * self.price_per_1k_completion
        ) / 1000.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Budget:
        return cls(
            max_requests=settings.teacher_max_requests,
            max_tokens=settings.teacher_max_tokens,
            max_cost=settings.teacher_max_cost,
            price_per_1k_prompt=settings.teacher_price_per_1k_prompt_tokens,
            price_per_1k_completion=settings.teacher_price_per_1k_completion_tokens,
        )


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut `text` at the first stop sequence, as an API server does."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if 0 <= i < cut:
                cut = i
    return text[:cut]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even when an event loop already runs here
    (a notebook, the service): then it runs on a fresh loop in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    value: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            value.append(asyncio.run(coro))
        except BaseException as e:  # re-raised in the caller's thread
            error.append(e)

    thread = threading.Thread(target=target, name="skd-run-sync")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return value[0]


OPENAI_PREFIXES = ("openai:", "openai-chat:", "openai-completion:")
BATCH_PREFIX = "openai-batch:"


def make_teacher(spec: str, settings: Settings, **kwargs: Any) -> Teacher:
    """A teacher from a spec: `openai:<model>` (the endpoint in settings; `openai-chat:` and
    `openai-completion:` force the API style), `openai-batch:<model>` (the same endpoint's Batch API, in
    SKD_TEACHER_API_MODE), `smollm2`, or a Hugging Face id or local folder."""
    spec = (spec or "").strip()
    if not spec:
        raise ConfigError("empty teacher spec; use 'smollm2', a model folder or 'openai:<model>'")
    lowered = spec.lower()
    if lowered.startswith(BATCH_PREFIX):
        from skd.models.teacher_batch import OpenAIBatchTeacher

        model = spec[len(BATCH_PREFIX) :].strip() or settings.teacher_model
        return OpenAIBatchTeacher.from_settings(model, settings, **kwargs)
    for prefix in OPENAI_PREFIXES:
        if lowered.startswith(prefix):
            from skd.models.teacher_openai import OpenAITeacher

            model = spec[len(prefix) :].strip() or settings.teacher_model
            mode = {"openai-chat:": "chat", "openai-completion:": "completion"}.get(prefix, settings.teacher_api_mode)
            return OpenAITeacher.from_settings(model, settings, mode=mode, **kwargs)
    from skd.models.teacher_local import LocalTeacher

    return LocalTeacher.load(spec, settings, **kwargs)
