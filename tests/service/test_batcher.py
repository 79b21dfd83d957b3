"""The micro-batcher and the completion cache, with real threads and a real event loop."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from skd.service.batcher import MicroBatcher
from skd.service.completion import LruCache


def test_concurrent_submits_share_batches_and_keep_their_results() -> None:
    batches: list[list[int]] = []
    gate = threading.Event()

    def square_all(items: list[int]) -> list[int]:
        gate.wait(5)  # the first batch holds the worker while the rest queue up behind it
        batches.append(items)
        return [i * i for i in items]

    async def run() -> list[int]:
        batcher = MicroBatcher(square_all, ThreadPoolExecutor(1), window_s=0.05, max_batch=8)
        tasks = [asyncio.ensure_future(batcher.submit(i)) for i in range(20)]
        await asyncio.sleep(0.1)
        gate.set()
        out = await asyncio.gather(*tasks)
        await batcher.aclose()
        return out

    assert asyncio.run(run()) == [i * i for i in range(20)]
    assert sorted(i for b in batches for i in b) == list(range(20))
    assert max(len(b) for b in batches) == 8 and len(batches) < 20


def test_a_failed_batch_fails_each_of_its_items() -> None:
    def fail(items: list[int]) -> list[int]:
        raise ValueError("model broke")

    async def run() -> list[BaseException | int]:
        batcher = MicroBatcher(fail, ThreadPoolExecutor(1), window_s=0.01, max_batch=4)
        out = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
        await batcher.aclose()
        return out

    out = asyncio.run(run())
    assert all(isinstance(e, ValueError) and str(e) == "model broke" for e in out)


def test_the_batcher_survives_a_new_event_loop() -> None:
    batcher = MicroBatcher(lambda xs: [x + 1 for x in xs], ThreadPoolExecutor(1), window_s=0.0, max_batch=4)
    assert asyncio.run(batcher.submit(1)) == 2
    assert asyncio.run(batcher.submit(2)) == 3


@pytest.mark.parametrize("size", [0, 2])
def test_lru_cache_forgets_the_least_recently_used(size: int) -> None:
    cache: LruCache[str, int] = LruCache(size)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == (1 if size else None)
    cache.put("c", 3)
    assert len(cache) == size
    if size:
        assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
