"""Admission control: a budget of bytes for the work in flight, and a bounded wait for room.

Every request body being held and every image being decoded takes an estimate of the memory it
needs from a :class:`ByteBudget` before the work starts, and gives it back when done. Work that
does not fit waits, first come first served among the waiters that fit (a small request does not
queue behind a large one that is still waiting for room), for at most the queue timeout; past
that it is refused with a 503 ``overloaded`` and ``Retry-After``. So that a stream of medium
work cannot keep a large piece out for ever, once the longest waiter has waited ``patience``
seconds nothing else is let in before it (except what is free, below). Amounts up to ``free_below``
are counted but never wait: 28x28 digits must not queue behind 16 MB photos, and they cost too
little to matter. No single piece of work can need more than the whole budget: a larger
estimate is cut to it, so the work runs alone rather than never.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from app.errors import OverloadedError

# Requests whose work is at most this big are counted but never queued.
FREE_BELOW = 256 * 1024


class ByteBudget:
    """Bytes of memory that the work in flight may hold at once."""

    def __init__(
        self,
        capacity: int,
        *,
        wait_timeout: float,
        free_below: int = FREE_BELOW,
        patience: float = 1.0,
        threads: int | None = None,
    ) -> None:
        if capacity < 1 or wait_timeout < 0:
            raise ValueError("the capacity must be positive and the wait timeout not negative")
        self.capacity = capacity
        self.wait_timeout = wait_timeout
        self.free_below = free_below
        self.patience = patience
        self.in_use = 0
        self.peak = 0
        self.refused = 0  # requests turned away after waiting their longest
        # Called when the budget empties after large work: the allocator may give memory back.
        self.on_idle: Callable[[], None] | None = None
        self._large_since_idle = False
        self._waiters: deque[tuple[int, float, asyncio.Future[None]]] = deque()
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter | None:
        """At most ``threads`` worker threads for this budget's work (None: anyio's default)."""
        if self._limiter is None and self.threads is not None:
            self._limiter = anyio.CapacityLimiter(self.threads)  # needs the running loop
        return self._limiter

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def _fits(self, amount: int) -> bool:
        return amount <= self.free_below or self.in_use + amount <= self.capacity

    def _overdue(self, now: float) -> bool:
        """Whether the longest waiter has waited long enough that no one may pass it."""
        return bool(self._waiters) and now - self._waiters[0][1] >= self.patience

    def _grant(self, amount: int) -> None:
        self.in_use += amount
        self._large_since_idle |= amount > self.free_below
        self.peak = max(self.peak, self.in_use)

    def take_small(self, amount: int) -> bool:
        """Take ``amount`` at once if it is small enough never to wait (no coroutine needed)."""
        if amount > self.free_below:
            return False
        self.in_use += amount
        self.peak = max(self.peak, self.in_use)
        return True

    async def take(self, amount: int) -> int:
        """Take ``amount`` bytes (at most the capacity), waiting for room; the bytes taken.

        Raises :class:`OverloadedError` when no room is made within the wait timeout.
        """
        amount = max(0, min(amount, self.capacity))
        loop = asyncio.get_running_loop()
        if amount <= self.free_below or (self._fits(amount) and not self._overdue(loop.time())):
            self._grant(amount)
            return amount
        granted: asyncio.Future[None] = loop.create_future()
        entry = (amount, loop.time(), granted)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(self.wait_timeout):
                await asyncio.shield(granted)
        except BaseException as exc:
            if granted.done():  # granted in the same instant the wait ended: hand it back
                self.give(amount)
            else:
                self._waiters.remove(entry)
                granted.cancel()
            if isinstance(exc, TimeoutError):
                self.refused += 1
                raise overloaded(self.wait_timeout) from None
            raise
        return amount

    def give(self, amount: int) -> None:
        """Return bytes taken with :meth:`take`, and let in the waiters that now fit."""
        self.in_use -= amount
        if not self._waiters and not self._large_since_idle:
            return  # the common case: small work, no one waiting
        overdue = self._overdue(asyncio.get_running_loop().time())
        for entry in list(self._waiters):
            waiting_amount, _, granted = entry
            if self._fits(waiting_amount):
                self._waiters.remove(entry)
                self._grant(waiting_amount)
                granted.set_result(None)
            elif overdue:
                break  # the longest waiter goes first now: no one passes it
        if self.in_use == 0 and self._large_since_idle and self.on_idle is not None:
            self._large_since_idle = False
            self.on_idle()


def overloaded(wait_timeout: float) -> OverloadedError:
    """The 503 for work that found no room within ``wait_timeout`` seconds."""
    retry_after = max(1, math.ceil(min(wait_timeout, 5.0)))
    return OverloadedError(
        f"the server is at capacity (memory for the work in flight); waited {wait_timeout:g} s"
        f" for room: retry after {retry_after} s",
        details={"retry_after_s": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


@dataclass(frozen=True, slots=True)
class Admission:
    """The two budgets of an app: request bodies being held, and images being decoded.

    Two budgets, not one, so that a request already holding its body never waits for room that
    only bodies hold: decoding always makes progress, and with it the bodies are given back.
    Decoding runs on as many threads as the process has cores: more would only share the same
    cores, and the event loop with them. In the soak (server on one core), eight photos decoding
    at once, as many as fit in the budget, put the 28x28 digits beside them at a median of 24 ms
    and a p99 of 92 ms; one thread at a time, 0.4 ms and 27 ms, for as many photos a second.
    """

    bodies: ByteBudget
    decoding: ByteBudget

    @classmethod
    def split(cls, total: int, wait_timeout: float) -> Admission:
        """Half of ``total`` bytes for bodies, half for decoding."""
        half = max(1, total // 2)
        cores = len(os.sched_getaffinity(0))
        return cls(
            ByteBudget(half, wait_timeout=wait_timeout),
            ByteBudget(half, wait_timeout=wait_timeout, threads=max(1, cores)),
        )
