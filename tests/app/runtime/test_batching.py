"""The micro-batcher, driven by a fake model that records every batch it sees.

The batcher sends its queue from event-loop callbacks (``call_soon``/``call_later``), which run
in the order they were scheduled, so these tests pin down which requests share a call by
choosing when each request reaches :meth:`MicroBatcher.predict`, not by sleeping. Batches that go
to the worker thread can be held there with the fake model's gate.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np
import pytest

from app.contract import Pixels, Probabilities
from app.runtime.batching import BatcherClosedError, MicroBatcher

T = TypeVar("T")
GUARD_SECONDS = 30  # only so that a broken batcher fails the test instead of hanging it
AN_HOUR_US = 3_600_000_000  # a maximum wait no test may sit out


class FakeModel:
    """Returns, for each image, ten copies of its first pixel; records every batch it saw.

    ``threads`` holds the thread each batch ran on. While ``gate`` is cleared, calls block, which
    lets a test hold a batch in the worker thread (never clear it for a batch that runs on the
    event loop: the loop itself would block until the gate's timeout).
    """

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.threads: list[threading.Thread] = []
        self.gate = threading.Event()
        self.gate.set()
        self.calls_started = threading.Semaphore(0)
        self.fail_with = fail_with

    def __call__(self, pixels: Pixels) -> Probabilities:
        self.batches.append([int(v) for v in pixels[:, 0, 0]])
        self.threads.append(threading.current_thread())
        self.calls_started.release()
        assert self.gate.wait(GUARD_SECONDS), "the test never opened the gate"
        if self.fail_with is not None:
            raise self.fail_with
        return np.repeat(pixels[:, :1, 0].astype(np.float32), 10, axis=1)

    async def wait_for_call(self) -> None:
        """Wait (without blocking the loop) until the model has been entered once more."""
        assert await asyncio.to_thread(self.calls_started.acquire, True, GUARD_SECONDS)


def images(*first_pixels: int) -> Pixels:
    """A batch whose image i has ``first_pixels[i]`` in its top-left corner (an identity tag)."""
    batch = np.zeros((len(first_pixels), 28, 28), dtype=np.uint8)
    batch[:, 0, 0] = first_pixels
    return batch


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a test scenario on a fresh event loop, failing instead of hanging."""
    return asyncio.run(asyncio.wait_for(coro, GUARD_SECONDS))


def tags(result: Probabilities) -> list[int]:
    """The identity tags of the rows a caller got back."""
    return [int(v) for v in result[:, 0]]


async def passes(count: int) -> None:
    """Let the event loop run ``count`` passes (every callback already scheduled runs)."""
    for _ in range(count):
        await asyncio.sleep(0)


def test_requests_started_in_the_same_pass_share_one_call() -> None:
    model = FakeModel()

    async def scenario() -> list[list[int]]:
        batcher = MicroBatcher(model)
        tasks = [asyncio.create_task(batcher.predict(images(tag))) for tag in (1, 2, 3, 4, 5)]
        results = await asyncio.gather(*tasks)
        await batcher.close()
        return [tags(r) for r in results]

    assert run(scenario()) == [[1], [2], [3], [4], [5]]
    assert model.batches == [[1, 2, 3, 4, 5]]


def test_each_caller_of_a_shared_call_gets_its_own_rows_in_order() -> None:
    model = FakeModel()

    async def scenario() -> list[list[int]]:
        batcher = MicroBatcher(model)
        requests = [images(1, 2, 3), images(4), images(5, 6)]
        results = await asyncio.gather(*(batcher.predict(r) for r in requests))
        await batcher.close()
        return [tags(r) for r in results]

    assert run(scenario()) == [[1, 2, 3], [4], [5, 6]]
    assert model.batches == [[1, 2, 3, 4, 5, 6]]


def test_a_lone_request_is_answered_without_waiting_for_company() -> None:
    model = FakeModel()

    async def scenario() -> list[list[int]]:
        batcher = MicroBatcher(model, max_wait_us=0)
        results = [tags(await batcher.predict(images(tag))) for tag in (1, 2, 3)]
        await batcher.close()
        return results

    assert run(scenario()) == [[1], [2], [3]]
    assert model.batches == [[1], [2], [3]]


def test_with_a_maximum_wait_requests_from_later_passes_join_the_batch() -> None:
    model = FakeModel()

    async def scenario() -> list[list[int]]:
        batcher = MicroBatcher(model, max_wait_us=200_000)
        first = asyncio.create_task(batcher.predict(images(1)))
        # Without a wait, two passes would have sent the first request on its own.
        await passes(2)
        assert model.batches == []
        assert batcher.queued_rows == 1
        second = asyncio.create_task(batcher.predict(images(2)))
        results = await asyncio.gather(first, second)
        assert batcher.queued_rows == 0
        await batcher.close()
        return [tags(r) for r in results]

    assert run(scenario()) == [[1], [2]]
    assert model.batches == [[1, 2]]


def test_a_full_batch_leaves_at_once_rather_than_after_the_maximum_wait() -> None:
    model = FakeModel()

    async def scenario() -> list[list[int]]:
        # An hour of maximum wait: only the full-batch rule can get these answered in time.
        batcher = MicroBatcher(model, max_batch_size=3, max_wait_us=AN_HOUR_US)
        results = await asyncio.gather(*(batcher.predict(images(tag)) for tag in (1, 2, 3)))
        await batcher.close()
        return [tags(r) for r in results]

    assert run(scenario()) == [[1], [2], [3]]
    assert model.batches == [[1, 2, 3]]


def test_batches_never_exceed_the_maximum_size_and_keep_arrival_order() -> None:
    model = FakeModel()

    async def scenario() -> list[list[int]]:
        batcher = MicroBatcher(model, max_batch_size=4)
        results = await asyncio.gather(*(batcher.predict(images(tag)) for tag in range(1, 11)))
        await batcher.close()
        return [tags(r) for r in results]

    assert run(scenario()) == [[tag] for tag in range(1, 11)]
    assert model.batches == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]


def test_a_request_larger_than_the_maximum_runs_alone_and_unsplit() -> None:
    model = FakeModel()

    async def scenario() -> list[list[int]]:
        batcher = MicroBatcher(model, max_batch_size=2)
        alone = await batcher.predict(images(1, 2, 3))
        # Oversized in the middle of a queue: what came before leaves first, then it alone.
        requests = [images(4), images(5, 6, 7), images(8)]
        results = await asyncio.gather(*(batcher.predict(r) for r in requests))
        await batcher.close()
        return [tags(alone), *(tags(r) for r in results)]

    assert run(scenario()) == [[1, 2, 3], [4], [5, 6, 7], [8]]
    assert model.batches == [[1, 2, 3], [4], [5, 6, 7], [8]]


@pytest.mark.parametrize("inline_max_rows", [64, 0], ids=["on-the-loop", "in-the-thread"])
def test_a_model_error_reaches_every_caller_of_the_batch_and_the_batcher_recovers(
    inline_max_rows: int,
) -> None:
    error = ValueError("model exploded")
    model = FakeModel(fail_with=error)

    async def scenario() -> tuple[list[BaseException | Probabilities], Probabilities]:
        batcher = MicroBatcher(model, inline_max_rows=inline_max_rows)
        requests = [images(1), images(2, 3), images(4)]
        outcomes = await asyncio.gather(
            *(batcher.predict(r) for r in requests), return_exceptions=True
        )
        model.fail_with = None
        recovered = await batcher.predict(images(7))
        await batcher.close()
        return outcomes, recovered

    outcomes, recovered = run(scenario())
    assert outcomes == [error, error, error]
    assert model.batches == [[1, 2, 3, 4], [7]]
    assert tags(recovered) == [7]


def test_a_model_returning_the_wrong_number_of_rows_fails_every_caller() -> None:
    def short_model(pixels: Pixels) -> Probabilities:
        return np.zeros((1, 10), dtype=np.float32)

    async def scenario() -> list[BaseException | Probabilities]:
        batcher = MicroBatcher(short_model)
        outcomes = await asyncio.gather(
            batcher.predict(images(1)), batcher.predict(images(2)), return_exceptions=True
        )
        await batcher.close()
        return list(outcomes)

    outcomes = run(scenario())
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert isinstance(outcome, RuntimeError)
        assert str(outcome) == "the model returned 1 rows for a batch of 2"


@pytest.mark.parametrize("max_wait_us", [0, 200_000], ids=["sent-next-pass", "sent-on-timer"])
def test_a_cancelled_caller_is_left_out_of_the_batch(max_wait_us: int) -> None:
    model = FakeModel()

    async def scenario() -> list[int]:
        batcher = MicroBatcher(model, max_wait_us=max_wait_us)
        gone = asyncio.create_task(batcher.predict(images(1)))
        kept = asyncio.create_task(batcher.predict(images(2)))
        # One pass: both tasks are now waiting inside predict, queued, and the send (scheduled
        # by the first of them, after this coroutine's own wake-up) has not run yet.
        await passes(1)
        assert batcher.queued_rows == 2
        assert model.batches == []
        gone.cancel()
        result = await kept
        with pytest.raises(asyncio.CancelledError):
            await gone
        await batcher.close()
        return tags(result)

    assert run(scenario()) == [2]
    assert model.batches == [[2]]


def test_small_batches_run_on_the_loop_and_large_ones_in_the_worker_thread() -> None:
    model = FakeModel()

    async def scenario() -> threading.Thread:
        batcher = MicroBatcher(model, inline_max_rows=2)
        await batcher.predict(images(1, 2))  # exactly the inline limit
        await batcher.predict(images(3, 4, 5))  # one row over it
        await batcher.predict(images(6))  # nothing in the thread any more: back on the loop
        await batcher.close()
        return threading.current_thread()

    loop_thread = run(scenario())
    assert model.batches == [[1, 2], [3, 4, 5], [6]]
    on_loop, in_thread, back_on_loop = model.threads
    assert on_loop is loop_thread
    assert in_thread is not loop_thread
    assert in_thread.name.startswith("batcher")
    assert back_on_loop is loop_thread


def test_a_small_batch_sent_while_a_threaded_one_runs_follows_it_into_the_thread() -> None:
    model = FakeModel()
    sizes: list[int] = []

    async def scenario() -> list[list[int]]:
        batcher = MicroBatcher(model, inline_max_rows=2, on_batch=sizes.append)
        model.gate.clear()
        large = asyncio.create_task(batcher.predict(images(1, 2, 3)))
        await model.wait_for_call()  # held in the worker thread
        small = asyncio.create_task(batcher.predict(images(4)))
        # Pass 1: the small request queues itself; pass 2: its send runs. Had it run on the
        # loop, the model would have recorded it already (the gate only holds the thread).
        await passes(2)
        assert sizes == [3, 1]
        assert model.batches == [[1, 2, 3]]
        assert not small.done()
        model.gate.set()
        results = await asyncio.gather(large, small)
        await batcher.close()
        return [tags(r) for r in results]

    assert run(scenario()) == [[1, 2, 3], [4]]
    assert model.batches == [[1, 2, 3], [4]]
    first, second = model.threads
    assert first is second
    assert first is not threading.current_thread()


def test_close_finishes_queued_and_running_work_then_refuses_new_requests() -> None:
    model = FakeModel()

    async def scenario() -> list[list[int]]:
        batcher = MicroBatcher(model, max_batch_size=3, max_wait_us=AN_HOUR_US, inline_max_rows=2)
        model.gate.clear()
        running = asyncio.create_task(batcher.predict(images(1, 2, 3)))  # full: sent at once
        await model.wait_for_call()  # held in the worker thread
        queued = asyncio.create_task(batcher.predict(images(4)))  # would wait an hour
        await passes(1)
        assert batcher.queued_rows == 1
        closing = asyncio.create_task(batcher.close())
        await passes(1)
        assert batcher.queued_rows == 0
        assert not closing.done()  # still waiting for the held batch
        with pytest.raises(BatcherClosedError):
            await batcher.predict(images(5))
        model.gate.set()
        await closing
        assert running.done()
        assert queued.done()
        # The batcher (and so its executor) is still referenced: only close() can have shut
        # the executor down, which joins its thread.
        assert not model.threads[0].is_alive()
        return [tags(running.result()), tags(queued.result())]

    assert run(scenario()) == [[1, 2, 3], [4]]
    assert model.batches == [[1, 2, 3], [4]]


@pytest.mark.parametrize(
    ("max_batch_size", "max_wait_us", "inline_max_rows"),
    [(0, 0, 64), (64, -1, 64), (64, 0, -1)],
    ids=["max_batch_size", "max_wait_us", "inline_max_rows"],
)
def test_invalid_settings_are_rejected(
    max_batch_size: int, max_wait_us: int, inline_max_rows: int
) -> None:
    with pytest.raises(ValueError, match="must be"):
        MicroBatcher(
            FakeModel(),
            max_batch_size=max_batch_size,
            max_wait_us=max_wait_us,
            inline_max_rows=inline_max_rows,
        )


def test_the_smallest_valid_settings_are_accepted() -> None:
    # The bounds of the rejection above: a batch of one, no wait, nothing on the loop.
    model = FakeModel()

    async def scenario() -> list[int]:
        batcher = MicroBatcher(model, max_batch_size=1, max_wait_us=0, inline_max_rows=0)
        result = await batcher.predict(images(1))
        await batcher.close()
        return tags(result)

    assert run(scenario()) == [1]


def test_on_batch_is_told_the_row_count_of_every_batch() -> None:
    model = FakeModel()
    sizes: list[int] = []

    async def scenario() -> None:
        batcher = MicroBatcher(model, max_batch_size=4, on_batch=sizes.append)
        # The second request overfills the queue: both leave at once, in two batches.
        await asyncio.gather(batcher.predict(images(1, 2, 3)), batcher.predict(images(4, 5)))
        await batcher.predict(images(6))
        await batcher.close()

    run(scenario())
    assert model.batches == [[1, 2, 3], [4, 5], [6]]
    assert sizes == [3, 2, 1]


def test_a_failing_batch_callback_fails_the_callers_instead_of_leaving_them_waiting() -> None:
    def broken_recorder(rows: int) -> None:
        raise RuntimeError(f"cannot record a batch of {rows}")

    async def scenario() -> list[BaseException | Probabilities]:
        batcher = MicroBatcher(FakeModel(), on_batch=broken_recorder)
        tasks = [asyncio.create_task(batcher.predict(images(tag))) for tag in (1, 2)]
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        await batcher.close()
        return outcomes

    outcomes = run(scenario())
    assert [str(outcome) for outcome in outcomes] == ["cannot record a batch of 2"] * 2


def test_a_cancelled_request_no_longer_counts_towards_a_full_batch() -> None:
    model = FakeModel()

    async def scenario() -> None:
        batcher = MicroBatcher(model, max_batch_size=2, max_wait_us=AN_HOUR_US // 1000)
        gone = asyncio.create_task(batcher.predict(images(1)))
        await passes(1)
        gone.cancel()
        await passes(1)
        assert batcher.queued_rows == 0
        # One live request must not look like a full batch of two and leave early.
        kept = asyncio.create_task(batcher.predict(images(2)))
        await passes(2)
        assert model.batches == []
        last = asyncio.create_task(batcher.predict(images(3)))
        await asyncio.gather(kept, last)
        await batcher.close()

    run(scenario())
    assert model.batches == [[2, 3]]


class _ShiftableClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock a test can move forward, so timers fire without any waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = 0.0

    def time(self) -> float:
        return super().time() + self.shift


def test_a_batch_sent_early_cancels_its_timer_so_the_next_batch_waits_in_full() -> None:
    model = FakeModel()
    wait = AN_HOUR_US / 1_000_000  # the maximum wait, in seconds of the loop's clock

    async def scenario(loop: _ShiftableClockLoop) -> list[list[int]]:
        batcher = MicroBatcher(model, max_batch_size=2, max_wait_us=AN_HOUR_US)
        # The first request sets the timer; the second fills the batch, which leaves at once.
        await asyncio.gather(batcher.predict(images(1)), batcher.predict(images(2)))
        loop.shift += wait / 2
        later = asyncio.create_task(batcher.predict(images(3)))  # its timer: 1.5 waits from 0
        await passes(2)
        loop.shift += wait * 0.7  # past the first timer's time, before the second's
        await passes(2)
        sent_before_its_time = list(model.batches)
        loop.shift += wait
        await later
        await batcher.close()
        return sent_before_its_time

    with asyncio.Runner(loop_factory=_ShiftableClockLoop) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, _ShiftableClockLoop)
        assert runner.run(scenario(loop)) == [[1, 2]]
    assert model.batches == [[1, 2], [3]]
