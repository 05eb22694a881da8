"""Adaptive micro-batching: concurrent predict calls coalesced into one model call.

Requests that reach the model during the same pass of the event loop leave together, in one call
made right after that pass. The batch size so follows the load: a lone request is answered at
once, and under load every request decoded in the same pass shares the call. Like TF Serving's
``max_batch_size`` / ``batch_timeout_micros``, a batch leaves as soon as it holds
``max_batch_size`` images, and with ``max_wait_us`` > 0 a batch that is not full waits up to that
long for more requests (a fixed delay for a lone request; off by default).

The model call for up to ``inline_max_rows`` images runs on the event loop itself. This model
answers 1 image in ~10 µs and 64 in ~70 µs, while handing a batch to a thread and back costs
~100 µs of thread wake-ups and GIL hand-overs on a busy core (a first, all-threads version lost
~20 % of the throughput under load). Larger batches, and any batch that arrives while one of
them runs, go to a worker thread so the loop keeps serving meanwhile.

The service leaves batching off by default: for this tiny model, parking and resuming each
request costs about what sharing the model call saves (see docs/performance.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from app.contract import Pixels, Probabilities

BatchFunction = Callable[[Pixels], Probabilities]

# ~70 µs of model time for this model: blocking the loop that long is cheaper than a thread trip.
INLINE_MAX_ROWS = 64


class BatcherClosedError(RuntimeError):
    """Raised to callers that submit work after :meth:`MicroBatcher.close` began."""


@dataclass(slots=True)
class _Request:
    pixels: Pixels
    future: asyncio.Future[Probabilities]

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
        max_wait_us: int = 0,
        inline_max_rows: int = INLINE_MAX_ROWS,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch_size < 1 or max_wait_us < 0 or inline_max_rows < 0:
            raise ValueError("max_batch_size must be >= 1, max_wait_us and inline_max_rows >= 0")
        self._model = model
        self._max_batch_size = max_batch_size
        self._max_wait = max_wait_us / 1_000_000
        self._inline_max_rows = inline_max_rows
        self._on_batch = on_batch
        self._queue: list[_Request] = []
        self._queued_rows = 0
        self._send: asyncio.Handle | None = None
        # One worker: the model serialises its calls anyway, and batches keep their order.
        self._executor: ThreadPoolExecutor | None = None
        self._in_thread: set[asyncio.Future[Probabilities]] = set()
        self._closing = False

    @property
    def queued_rows(self) -> int:
        """Images waiting for a model call (not counting the ones being computed)."""
        return self._queued_rows

    async def predict(self, pixels: Pixels) -> Probabilities:
        """Run ``pixels`` (``[k, 28, 28]``) through the model as part of a batch; ``k`` rows out."""
        if self._closing:
            raise BatcherClosedError("the batcher is shutting down")
        loop = asyncio.get_running_loop()
        request = _Request(pixels, loop.create_future())
        self._queue.append(request)
        self._queued_rows += request.rows
        if self._queued_rows >= self._max_batch_size:
            self._send_queued()
        elif self._send is None:
            self._send = (
                loop.call_later(self._max_wait, self._send_queued)
                if self._max_wait
                else loop.call_soon(self._send_queued)
            )
        try:
            return await request.future
        except asyncio.CancelledError:
            # Still queued: it will be skipped when sent, so stop counting it towards a full batch.
            if any(queued is request for queued in self._queue):
                self._queued_rows -= request.rows
            raise

    async def close(self) -> None:
        """Stop accepting work, finish everything already queued, then release the thread."""
        self._closing = True
        self._send_queued()
        if self._in_thread:
            await asyncio.gather(*self._in_thread, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def _send_queued(self) -> None:
        if self._send is not None:
            self._send.cancel()
            self._send = None
        queue, self._queue, self._queued_rows = self._queue, [], 0
        # Callers that went away (cancelled) while waiting are left out.
        batch: list[_Request] = []
        rows = 0
        for request in queue:
            if request.future.done():
                continue
            if batch and rows + request.rows > self._max_batch_size:
                self._run(batch, rows)
                batch, rows = [], 0
            batch.append(request)
            rows += request.rows
        if batch:
            self._run(batch, rows)

    def _run(self, batch: list[_Request], rows: int) -> None:
        # Whatever goes wrong here must reach the batch's callers, or they would wait forever.
        try:
            pixels = (
                batch[0].pixels if len(batch) == 1 else np.concatenate([r.pixels for r in batch])
            )
            if self._on_batch is not None:
                self._on_batch(rows)
            if rows > self._inline_max_rows or self._in_thread:
                self._run_in_thread(batch, pixels)
            else:
                _deliver(batch, self._model(pixels))
        except Exception as exc:
            _fail(batch, exc)

    def _run_in_thread(self, batch: list[_Request], pixels: Pixels) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batcher")
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._model, pixels)
        self._in_thread.add(future)
        future.add_done_callback(partial(self._thread_done, batch))

    def _thread_done(self, batch: list[_Request], future: asyncio.Future[Probabilities]) -> None:
        self._in_thread.discard(future)
        if future.cancelled():
            _fail(batch, BatcherClosedError("the batcher stopped"))
        elif (failure := future.exception()) is not None:
            _fail(batch, failure)
        else:
            try:
                _deliver(batch, future.result())
            except Exception as exc:
                _fail(batch, exc)


def _deliver(batch: list[_Request], outputs: Probabilities) -> None:
    rows = sum(request.rows for request in batch)
    if len(outputs) != rows:
        _fail(batch, RuntimeError(f"the model returned {len(outputs)} rows for a batch of {rows}"))
        return
    start = 0
    for request in batch:
        stop = start + request.rows
        if not request.future.done():
            request.future.set_result(outputs[start:stop])
        start = stop


def _fail(batch: list[_Request], exc: BaseException) -> None:
    for request in batch:
        if not request.future.done():
            request.future.set_exception(exc)
