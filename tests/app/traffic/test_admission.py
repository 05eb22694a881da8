"""The byte budget: work waits for room, first fit first, and is refused after the wait."""

from __future__ import annotations

import asyncio

import pytest

from app.errors import OverloadedError
from app.traffic.admission import Admission, ByteBudget

pytestmark = pytest.mark.anyio
MIB = 1024 * 1024


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_work_that_fits_is_taken_at_once_and_given_back() -> None:
    budget = ByteBudget(10 * MIB, wait_timeout=1, free_below=0)
    assert await budget.take(4 * MIB) == 4 * MIB
    assert await budget.take(6 * MIB) == 6 * MIB
    assert budget.in_use == 10 * MIB
    budget.give(10 * MIB)
    assert budget.in_use == 0
    assert budget.peak == 10 * MIB


async def test_work_that_does_not_fit_waits_until_room_is_given_back() -> None:
    budget = ByteBudget(10 * MIB, wait_timeout=5, free_below=0)
    await budget.take(8 * MIB)
    waiter = asyncio.create_task(budget.take(4 * MIB))
    await settle()
    assert not waiter.done()
    assert budget.waiting == 1
    budget.give(8 * MIB)
    assert await waiter == 4 * MIB
    assert budget.in_use == 4 * MIB


async def test_after_the_wait_it_is_a_503_overloaded_with_retry_after() -> None:
    budget = ByteBudget(10 * MIB, wait_timeout=0.05, free_below=0)
    await budget.take(10 * MIB)
    with pytest.raises(OverloadedError) as raised:
        await budget.take(1 * MIB)
    error = raised.value
    assert (error.status, error.code) == (503, "overloaded")
    assert int(error.headers["Retry-After"]) >= 1
    assert budget.waiting == 0
    assert budget.refused == 1
    assert budget.in_use == 10 * MIB  # nothing was taken for the refused work


async def test_small_work_never_waits_behind_large_work() -> None:
    budget = ByteBudget(10 * MIB, wait_timeout=5, free_below=256 * 1024, patience=60)
    await budget.take(9 * MIB)
    large = asyncio.create_task(budget.take(8 * MIB))
    await settle()
    # A 28x28 digit's few hundred bytes: counted, never queued.
    assert await asyncio.wait_for(budget.take(700), timeout=1) == 700
    # Medium work that fits is let in even though large work arrived before it (first fit).
    assert await asyncio.wait_for(budget.take(1 * MIB - 700), timeout=1) == 1 * MIB - 700
    assert not large.done()
    budget.give(9 * MIB)
    budget.give(1 * MIB)
    assert await large == 8 * MIB


async def test_once_the_longest_waiter_is_overdue_no_one_passes_it() -> None:
    budget = ByteBudget(10 * MIB, wait_timeout=5, free_below=1024, patience=0.1)
    await budget.take(6 * MIB)
    large = asyncio.create_task(budget.take(8 * MIB))
    await asyncio.sleep(0.15)  # the large work has now waited past its patience
    medium = asyncio.create_task(budget.take(3 * MIB))  # would fit, but must queue behind it
    await settle()
    assert not medium.done()
    assert await asyncio.wait_for(budget.take(500), timeout=1) == 500  # tiny work still passes
    budget.give(6 * MIB)
    assert await large == 8 * MIB
    assert not medium.done()  # 8 + 3 MiB do not fit in 10
    budget.give(8 * MIB)
    assert await medium == 3 * MIB


async def test_work_larger_than_the_budget_runs_alone_instead_of_never() -> None:
    budget = ByteBudget(10 * MIB, wait_timeout=5, free_below=0)
    await budget.take(1 * MIB)
    huge = asyncio.create_task(budget.take(50 * MIB))
    await settle()
    assert not huge.done()
    budget.give(1 * MIB)
    assert await huge == 10 * MIB


async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    budget = ByteBudget(10 * MIB, wait_timeout=5, free_below=0)
    await budget.take(10 * MIB)
    waiter = asyncio.create_task(budget.take(5 * MIB))
    await settle()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    budget.give(10 * MIB)
    assert (budget.in_use, budget.waiting) == (0, 0)


def test_the_app_budget_is_split_between_bodies_and_decoding() -> None:
    admission = Admission.split(100 * MIB, wait_timeout=3)
    assert admission.bodies.capacity == admission.decoding.capacity == 50 * MIB
    assert admission.bodies.wait_timeout == 3
    with pytest.raises(ValueError, match="positive"):
        ByteBudget(0, wait_timeout=1)


async def test_the_budget_says_when_it_empties_after_large_work() -> None:
    budget = ByteBudget(10 * MIB, wait_timeout=1, free_below=1024)
    idle: list[int] = []
    budget.on_idle = lambda: idle.append(budget.in_use)
    await budget.take(500)  # small work only: nothing to give back
    budget.give(500)
    assert idle == []
    await budget.take(4 * MIB)
    await budget.take(500)
    budget.give(4 * MIB)
    assert idle == []  # not empty yet
    budget.give(500)
    assert idle == [0]
