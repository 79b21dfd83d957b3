"""Micro-batching: requests arriving within a short window go to the model as one batch call."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

from skd.service.errors import OverloadedError

K = TypeVar("K")
V = TypeVar("V")


class MicroBatcher(Generic[K, V]):
    """Collects submitted items and runs `run_batch(items) -> results` on `executor`, one batch at a time.

    A batch closes when `max_batch` items are waiting or `window_s` has passed since its first item.
    While a batch runs, new items queue up and form the next batch, so under load batches grow by
    themselves. At most `max_queue` items wait: one more is refused at once with OverloadedError.
    `run_batch` must return one result per item, in order; if it raises, every item of that batch gets
    the exception.
    """

    def __init__(
        self,
        run_batch: Callable[[list[K]], Sequence[V]],
        executor: Executor,
        window_s: float,
        max_batch: int,
        on_batch: Callable[[int, float], None] | None = None,
        max_queue: int = 0,
    ) -> None:
        self._run_batch = run_batch
        self._executor = executor
        self.window_s = window_s
        self.max_batch = max_batch
        self.max_queue = max_queue  # 0: unbounded
        self._on_batch = on_batch
        self._queue: asyncio.Queue[tuple[K, asyncio.Future[V]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item: K) -> V:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            # bound to the loop it runs in: a new loop (tests calling asyncio.run twice) gets its own
            self._loop, self._queue = loop, asyncio.Queue(self.max_queue)
            self._task = loop.create_task(self._consume())
        assert self._queue is not None
        fut: asyncio.Future[V] = loop.create_future()
        try:
            self._queue.put_nowait((item, fut))
        except asyncio.QueueFull:
            raise OverloadedError(
                f"the model is busy: {self.max_queue} generations are waiting; try again shortly"
            ) from None
        return await fut

    @property
    def waiting(self) -> int:
        return 0 if self._queue is None else self._queue.qsize()

    async def _collect(self, queue: asyncio.Queue[tuple[K, asyncio.Future[V]]]) -> list[tuple[K, asyncio.Future[V]]]:
        batch = [await queue.get()]
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _consume(self) -> None:
        queue = self._queue
        assert queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [(item, fut) for item, fut in await self._collect(queue) if not fut.cancelled()]
            if not batch:
                continue
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, [i for i, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"batch of {len(batch)} returned {len(results)} results")
            except Exception as e:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)
            if self._on_batch is not None:
                self._on_batch(len(batch), time.perf_counter() - started)

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
