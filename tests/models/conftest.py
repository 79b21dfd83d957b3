"""Model tests run torch on one thread: tiny models gain nothing from threads, and on a busy
2-core machine two threads fought each other (a tiny training step went from 0.1 s to 2 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
