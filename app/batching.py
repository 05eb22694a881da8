"""Adaptive micro-batching: concurrent predict calls coalesced into one model call.

Like TF Serving's ``max_batch_size`` / ``batch_timeout_micros``, with one adaptive twist: when no
batch is running, whatever is queued goes to the model at once, so a lone request never waits for
the timeout. Requests that arrive while the model is busy pile up and leave together as soon as a
worker is free. With more than one worker, a batch formed while another one runs is sent when it
is full or when its oldest request has waited ``max_wait_us``.

The model function runs in the batcher's own worker threads, so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]
Probabilities = npt.NDArray[np.float32]
BatchFunction = Callable[[Pixels], Probabilities]


class BatcherClosedError(RuntimeError):
    """Raised to callers that submit work after :meth:`MicroBatcher.close` began."""


@dataclass(slots=True)
class _Request:
    pixels: Pixels
    future: asyncio.Future[Probabilities]
    arrived: float = field(default=0.0)

    @property
    def rows(self) -> int:
        return int(self.pixels.shape[0])


class MicroBatcher:
    """Coalesces concurrent :meth:`predict` calls into batched calls of ``model``.

    ``model`` takes ``uint8 [N, 28, 28]`` and returns one row of outputs per input row. A single
    request larger than ``max_batch_size`` is never split; it runs as a batch of its own.
    ``on_batch`` is told the number of rows of every batch (for a metrics histogram).
    """

    def __init__(
        self,
        model: BatchFunction,
        *,
        max_batch_size: int = 64,
        max_wait_us: int = 1000,
        workers: int = 1,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch_size < 1 or workers < 1 or max_wait_us < 0:
            raise ValueError("max_batch_size and workers must be >= 1, max_wait_us >= 0")
        self._model = model
        self._max_batch_size = max_batch_size
        self._max_wait = max_wait_us / 1_000_000
        self._workers = workers
        self._on_batch = on_batch
        self._queue: collections.deque[_Request] = collections.deque()
        self._queued_rows = 0
        self._running: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._closing = False
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batcher")
        self._collector: asyncio.Task[None] | None = None

    @property
    def queued_rows(self) -> int:
        """Images waiting for a model call (not counting the ones being computed)."""
        return self._queued_rows

    async def predict(self, pixels: Pixels) -> Probabilities:
        """Run ``pixels`` (``[k, 28, 28]``) through the model as part of a batch; ``k`` rows out."""
        if self._closing:
            raise BatcherClosedError("the batcher is shutting down")
        if self._collector is None:
            self._collector = asyncio.create_task(self._collect(), name="micro-batcher")
        loop = asyncio.get_running_loop()
        request = _Request(pixels, loop.create_future(), loop.time())
        self._queue.append(request)
        self._queued_rows += request.rows
        self._wakeup.set()
        return await request.future

    async def close(self) -> None:
        """Stop accepting work, finish everything already queued, then release the threads."""
        self._closing = True
        self._wakeup.set()
        if self._collector is not None:
            await self._collector
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def _collect(self) -> None:
        try:
            await self._collect_until_closed()
        finally:
            # Only reached early through cancellation or a bug: never leave a caller hanging.
            while self._queue:
                request = self._queue.popleft()
                if not request.future.done():
                    request.future.set_exception(BatcherClosedError("the batcher stopped"))

    async def _collect_until_closed(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wakeup.clear()
            if not self._queue:
                if self._closing:
                    return
                await self._wakeup.wait()
                continue
            if not self._ready_to_send(loop.time()):
                deadline = self._queue[0].arrived + self._max_wait
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), deadline - loop.time())
                continue
            if len(self._running) >= self._workers:
                # Every worker is busy: keep collecting until one finishes (it sets _wakeup).
                await self._wakeup.wait()
                continue
            batch = self._take_batch()
            if batch:
                task = asyncio.create_task(self._execute(batch))
                self._running.add(task)
                task.add_done_callback(self._finished)

    def _ready_to_send(self, now: float) -> bool:
        return (
            not self._running  # an idle model: do not make a lone request wait
            or self._closing
            or self._queued_rows >= self._max_batch_size
            or now >= self._queue[0].arrived + self._max_wait
        )

    def _take_batch(self) -> list[_Request]:
        batch: list[_Request] = []
        rows = 0
        while self._queue:
            request = self._queue[0]
            if batch and rows + request.rows > self._max_batch_size:
                break
            self._queue.popleft()
            self._queued_rows -= request.rows
            if request.future.done():  # the caller went away (cancelled): skip its work
                continue
            batch.append(request)
            rows += request.rows
        return batch

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wakeup.set()

    async def _execute(self, batch: list[_Request]) -> None:
        pixels = (
            batch[0].pixels
            if len(batch) == 1
            else np.concatenate([request.pixels for request in batch])
        )
        if self._on_batch is not None:
            self._on_batch(int(pixels.shape[0]))
        loop = asyncio.get_running_loop()
        try:
            outputs = await loop.run_in_executor(self._executor, self._model, pixels)
            if len(outputs) != len(pixels):
                raise RuntimeError(
                    f"the model returned {len(outputs)} rows for a batch of {len(pixels)}"
                )
        except Exception as exc:
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        start = 0
        for request in batch:
            stop = start + request.rows
            if not request.future.done():
                request.future.set_result(outputs[start:stop])
            start = stop
