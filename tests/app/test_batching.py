"""The micro-batcher, driven by a fake model whose calls the tests can hold and inspect."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np
import pytest

from app.batching import BatcherClosedError, MicroBatcher, Pixels, Probabilities

T = TypeVar("T")
GUARD_SECONDS = 30  # only so that a broken batcher fails the test instead of hanging it


class FakeModel:
    """Returns, for each image, ten copies of its first pixel; records every batch it saw.

    While ``gate`` is cleared, calls block in the worker thread, which lets a test queue
    requests "while the model is busy" deterministically.
    """

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.calls_started = threading.Semaphore(0)
        self.fail_with = fail_with

    def __call__(self, pixels: Pixels) -> Probabilities:
        self.batches.append([int(v) for v in pixels[:, 0, 0]])
        self.calls_started.release()
        self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return np.repeat(pixels[:, :1, 0].astype(np.float32), 10, axis=1)

    async def wait_for_call(self) -> None:
        """Wait until the model has been entered once more."""
        assert await asyncio.to_thread(self.calls_started.acquire, True, GUARD_SECONDS)


def images(*first_pixels: int) -> Pixels:
    """A batch whose image i has ``first_pixels[i]`` in its top-left corner (an identity tag)."""
    batch = np.zeros((len(first_pixels), 28, 28), dtype=np.uint8)
    batch[:, 0, 0] = first_pixels
    return batch


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, GUARD_SECONDS))


def tags(result: Probabilities) -> list[int]:
    return [int(v) for v in result[:, 0]]


def test_requests_queued_while_the_model_is_busy_share_one_call() -> None:
    model = FakeModel()

    async def scenario() -> list[list[int]]:
        batcher = MicroBatcher(model, max_batch_size=64, max_wait_us=10_000_000)
        model.gate.clear()
        first = asyncio.create_task(batcher.predict(images(1)))
        await model.wait_for_call()
        rest = [asyncio.create_task(batcher.predict(images(tag))) for tag in (2, 3, 4, 5)]
        await asyncio.sleep(0)  # let them enqueue
        model.gate.set()
        results = await asyncio.gather(first, *rest)
        await batcher.close()
        return [tags(r) for r in results]

    results = run(scenario())
    assert model.batches == [[1], [2, 3, 4, 5]]
    assert results == [[1], [2], [3], [4], [5]]


def test_each_caller_gets_its_own_rows_in_order() -> None:
    model = FakeModel()

    async def scenario() -> list[list[int]]:
        batcher = MicroBatcher(model, max_batch_size=64)
        model.gate.clear()
        blocker = asyncio.create_task(batcher.predict(images(0)))
        await model.wait_for_call()
        requests = [images(1, 2, 3), images(4), images(5, 6)]
        tasks = [asyncio.create_task(batcher.predict(r)) for r in requests]
        await asyncio.sleep(0)
        model.gate.set()
        results = await asyncio.gather(*tasks)
        await blocker
        await batcher.close()
        return [tags(r) for r in results]

    assert run(scenario()) == [[1, 2, 3], [4], [5, 6]]
    assert model.batches[1] == [1, 2, 3, 4, 5, 6]


def test_batches_never_exceed_the_maximum_size() -> None:
    model = FakeModel()

    async def scenario() -> None:
        batcher = MicroBatcher(model, max_batch_size=4)
        model.gate.clear()
        blocker = asyncio.create_task(batcher.predict(images(0)))
        await model.wait_for_call()
        tasks = [asyncio.create_task(batcher.predict(images(tag))) for tag in range(1, 11)]
        await asyncio.sleep(0)
        model.gate.set()
        await asyncio.gather(blocker, *tasks)
        await batcher.close()

    run(scenario())
    assert [len(b) for b in model.batches] == [1, 4, 4, 2]
    assert [tag for batch in model.batches[1:] for tag in batch] == list(range(1, 11))


def test_a_request_larger_than_the_maximum_runs_alone_and_unsplit() -> None:
    model = FakeModel()

    async def scenario() -> list[int]:
        batcher = MicroBatcher(model, max_batch_size=2)
        result = await batcher.predict(images(1, 2, 3))
        await batcher.close()
        return tags(result)

    assert run(scenario()) == [1, 2, 3]
    assert model.batches == [[1, 2, 3]]


def test_a_lone_request_is_sent_at_once_rather_after_the_maximum_wait() -> None:
    model = FakeModel()

    async def scenario() -> list[list[int]]:
        # An hour of maximum wait: only the idle-model rule can get these answered in time.
        batcher = MicroBatcher(model, max_batch_size=64, max_wait_us=3_600_000_000)
        results = [tags(await batcher.predict(images(tag))) for tag in (1, 2, 3)]
        await batcher.close()
        return results

    assert run(scenario()) == [[1], [2], [3]]
    assert model.batches == [[1], [2], [3]]


def test_with_a_spare_worker_a_partial_batch_leaves_after_the_maximum_wait() -> None:
    model = FakeModel()

    async def scenario() -> None:
        batcher = MicroBatcher(model, max_batch_size=64, max_wait_us=1000, workers=2)
        model.gate.clear()
        first = asyncio.create_task(batcher.predict(images(1)))
        await model.wait_for_call()
        second = asyncio.create_task(batcher.predict(images(2)))
        # The first call is still held, so the second can only start through the deadline.
        await model.wait_for_call()
        model.gate.set()
        await asyncio.gather(first, second)
        await batcher.close()

    run(scenario())
    assert model.batches == [[1], [2]]


def test_with_a_spare_worker_a_full_batch_leaves_without_waiting() -> None:
    model = FakeModel()

    async def scenario() -> None:
        batcher = MicroBatcher(model, max_batch_size=3, max_wait_us=3_600_000_000, workers=2)
        model.gate.clear()
        first = asyncio.create_task(batcher.predict(images(1)))
        await model.wait_for_call()
        full = [asyncio.create_task(batcher.predict(images(t))) for t in (2, 3, 4)]
        await model.wait_for_call()
        model.gate.set()
        await asyncio.gather(first, *full)
        await batcher.close()

    run(scenario())
    assert model.batches == [[1], [2, 3, 4]]


def test_a_model_error_reaches_every_caller_of_the_batch_and_the_batcher_recovers() -> None:
    model = FakeModel(fail_with=ValueError("model exploded"))

    async def scenario() -> list[BaseException | Probabilities]:
        batcher = MicroBatcher(model)
        model.gate.clear()
        blocker = asyncio.create_task(batcher.predict(images(0)))
        await model.wait_for_call()
        tasks = [asyncio.create_task(batcher.predict(images(t))) for t in (1, 2)]
        await asyncio.sleep(0)
        model.gate.set()
        outcomes = await asyncio.gather(blocker, *tasks, return_exceptions=True)
        model.fail_with = None
        outcomes.append(await batcher.predict(images(7)))
        await batcher.close()
        return outcomes

    *failures, recovered = run(scenario())
    assert len(failures) == 3
    assert all(isinstance(f, ValueError) and str(f) == "model exploded" for f in failures)
    assert isinstance(recovered, np.ndarray)
    assert tags(recovered) == [7]


def test_a_model_returning_the_wrong_number_of_rows_is_an_error() -> None:
    async def scenario() -> None:
        batcher = MicroBatcher(lambda pixels: np.zeros((1, 10), dtype=np.float32))
        try:
            await batcher.predict(images(1, 2))
        finally:
            await batcher.close()

    with pytest.raises(RuntimeError, match="1 rows for a batch of 2"):
        run(scenario())


def test_a_cancelled_caller_is_left_out_of_the_next_batch() -> None:
    model = FakeModel()

    async def scenario() -> None:
        batcher = MicroBatcher(model)
        model.gate.clear()
        blocker = asyncio.create_task(batcher.predict(images(0)))
        await model.wait_for_call()
        gone = asyncio.create_task(batcher.predict(images(1)))
        kept = asyncio.create_task(batcher.predict(images(2)))
        await asyncio.sleep(0)
        gone.cancel()
        model.gate.set()
        await asyncio.gather(blocker, kept)
        await batcher.close()

    run(scenario())
    assert model.batches == [[0], [2]]


def test_close_finishes_queued_work_then_refuses_new_requests() -> None:
    model = FakeModel()

    async def scenario() -> list[list[int]]:
        batcher = MicroBatcher(model, max_batch_size=2)
        model.gate.clear()
        tasks = [asyncio.create_task(batcher.predict(images(t))) for t in (1, 2, 3)]
        await model.wait_for_call()
        closing = asyncio.create_task(batcher.close())
        await asyncio.sleep(0)
        with pytest.raises(BatcherClosedError):
            await batcher.predict(images(4))
        model.gate.set()
        await closing
        return [tags(r) for r in await asyncio.gather(*tasks)]

    assert run(scenario()) == [[1], [2], [3]]
    assert model.batches == [[1, 2], [3]]


@pytest.mark.parametrize(
    ("max_batch_size", "max_wait_us", "workers"),
    [(0, 1000, 1), (64, 1000, 0), (64, -1, 1)],
)
def test_invalid_settings_are_rejected(max_batch_size: int, max_wait_us: int, workers: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        MicroBatcher(
            lambda pixels: pixels.astype(np.float32),
            max_batch_size=max_batch_size,
            max_wait_us=max_wait_us,
            workers=workers,
        )
