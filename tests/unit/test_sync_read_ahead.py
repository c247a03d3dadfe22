"""A run reads the PSA's next page while it stores the one it has (issue 13: reading and storing took turns)."""
from __future__ import annotations

import asyncio
import contextlib

import pytest

from billing_sync.service.psa_steps import read_ahead

pytestmark = pytest.mark.timeout(10)


class Pages:
    """Pages 0..n-1, each read taking a moment; records what was asked and whether it was closed."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.asked: list[int] = []
        self.closed = False

    async def __call__(self):
        try:
            for number in range(self.n):
                self.asked.append(number)
                await asyncio.sleep(0.01)
                if number == self.fail_at:
                    raise ConnectionError("the PSA hung up")
                yield [number]
        finally:
            self.closed = True


async def test_the_next_page_is_read_while_the_caller_stores_the_current_one_and_all_come_in_order():
    source, seen = Pages(4), []
    async with contextlib.aclosing(read_ahead(source())) as pages:
        async for page in pages:
            await asyncio.sleep(0.03)  # storing the page
            # the next page was asked for (and read) while this one was being stored; never more than one ahead
            assert source.asked == list(range(min(page[0] + 2, 4)))
            seen.append(page[0])
    assert seen == [0, 1, 2, 3] and source.closed


async def test_a_caller_that_fails_stops_the_read_under_way_and_closes_the_source():
    source = Pages(10)
    with pytest.raises(RuntimeError):
        async with contextlib.aclosing(read_ahead(source())) as pages:
            async for page in pages:
                if page == [1]:
                    raise RuntimeError("the store failed")
    assert source.closed and source.asked in ([0, 1], [0, 1, 2])  # at most the one read ahead was begun
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_failed_read_reaches_the_caller_after_the_pages_before_it():
    source, seen = Pages(5, fail_at=2), []
    with pytest.raises(ConnectionError):
        async with contextlib.aclosing(read_ahead(source())) as pages:
            async for page in pages:
                seen.append(page[0])
    assert seen == [0, 1]
