"""app.dataplane: decoding in worker threads, bounded by the decoding budget."""

from __future__ import annotations

import os
import threading

import anyio
import pytest

from app.dataplane import _in_thread
from app.traffic.admission import Admission, ByteBudget


async def _second_starts_while_first_runs(budget: ByteBudget, patience: float) -> list[bool]:
    """Whether a second decoding started while the first (waiting ``patience`` s for it) ran."""
    other_started = threading.Event()
    seen: list[bool] = []

    def first() -> None:
        seen.append(other_started.wait(timeout=patience))

    async with anyio.create_task_group() as group:
        group.start_soon(_in_thread, first, [], budget)
        await anyio.sleep(0.05)
        group.start_soon(_in_thread, other_started.set, [], budget)
    return seen


@pytest.mark.anyio
async def test_decoding_runs_on_at_most_as_many_threads_as_the_budget_allows() -> None:
    """With one thread, a second decoding starts only after the first ends: it cannot set the
    event the first one waits for (while other threads would)."""
    budget = ByteBudget(100 * 1024 * 1024, wait_timeout=5, threads=1)
    assert await _second_starts_while_first_runs(budget, patience=0.5) == [False]


@pytest.mark.anyio
async def test_without_a_thread_bound_decodings_overlap() -> None:
    budget = ByteBudget(100 * 1024 * 1024, wait_timeout=5)
    assert await _second_starts_while_first_runs(budget, patience=5) == [True]


def test_the_app_decodes_on_as_many_threads_as_it_has_cores() -> None:
    admission = Admission.split(100 * 1024 * 1024, wait_timeout=3)
    assert admission.decoding.threads == len(os.sched_getaffinity(0))
    assert admission.bodies.threads is None
