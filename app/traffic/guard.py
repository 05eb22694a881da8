"""ASGI middleware guarding the server's memory and connections.

For every request with a body it takes the body's share of the admission budget when the app
first reads the body (so requests refused before that, like an unknown model, never wait), gives
it back when the response is done, and holds the body to a deadline: a body that has not fully
arrived ``body_timeout`` seconds after the app started reading it is a 408 ``body_timeout`` and
the connection is closed (nginx's ``client_body_timeout`` does the same at 60 s). While the
server drains, every response carries ``Connection: close``, and one given before the body was
read first lets the rest of the body arrive (see :meth:`_Body.discard_rest`).
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import BodyTimeoutError
from app.traffic.admission import ByteBudget
from app.traffic.drain import Drain

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# A body is held about twice over at its peak: as it arrives in chunks, then joined.
BODY_COPIES = 2
# What a body of unknown length (chunked) takes first; more as it grows, doubling each time.
UNKNOWN_LENGTH_START = 64 * 1024
_CLOSE = (b"connection", b"close")


class _Body:
    """The request's ``receive``, with admission, a deadline and the bytes taken from the budget.

    Past its deadline (checked by :class:`_Deadlines`) the task is cancelled if it is waiting
    for the body, as ``asyncio.timeout`` would do, without a timer for every request.
    """

    __slots__ = (
        "budget",
        "deadline",
        "deadlines",
        "declared",
        "done",
        "expired",
        "receive",
        "received",
        "taken",
        "task",
        "timed_out",
        "timeout",
        "waiting",
    )

    def __init__(
        self,
        receive: Receive,
        budget: ByteBudget,
        deadlines: _Deadlines,
        declared: int | None,
        timeout: float,
    ) -> None:
        self.receive = receive
        self.budget = budget
        self.deadlines = deadlines
        self.declared = declared
        self.timeout = timeout
        self.deadline: float | None = None
        self.taken = 0
        self.received = 0
        self.done = False
        self.timed_out = False
        self.expired = False
        self.waiting = False
        self.task: asyncio.Task[object] | None = None

    async def __call__(self) -> Message:
        if self.done:  # after the body only a disconnect can come: no deadline on that
            return await self.receive()
        if self.deadline is None:
            await self._admit()
        if self.expired:
            raise self._timed_out()
        self.waiting = True
        try:
            message = await self.receive()
        except asyncio.CancelledError:
            # Cancelled by the deadline alone (not also by a shutdown): the body is late.
            if self.expired and self.task is not None and self.task.uncancel() == 0:
                raise self._timed_out() from None
            raise
        finally:
            self.waiting = False
        if message["type"] == "http.request":
            if self.declared is None:
                await self._grow(len(message.get("body", b"")))
            if not message.get("more_body", False):
                self.done = True
                self.stop()
        return message

    async def _admit(self) -> None:
        """Take the body's room in the budget (waiting for it), then start its deadline."""
        first = self.declared if self.declared is not None else UNKNOWN_LENGTH_START
        amount = BODY_COPIES * first
        self.taken = amount if self.budget.take_small(amount) else await self.budget.take(amount)
        self.deadline = asyncio.get_running_loop().time() + self.timeout
        self.task = asyncio.current_task()
        self.deadlines.add(self)

    def expire(self) -> None:
        """The deadline has passed: a wait for the body ends with a 408."""
        self.expired = True
        if self.waiting and self.task is not None:
            self.task.cancel()

    def _timed_out(self) -> BodyTimeoutError:
        self.timed_out = True
        return BodyTimeoutError(
            f"the request body did not arrive within {self.timeout:g} seconds",
            details={"body_timeout_s": self.timeout},
            headers={"Connection": "close"},  # uvicorn then closes the connection
        )

    def stop(self) -> None:
        """Drop the deadline (the body is in, or the request is over)."""
        self.deadlines.bodies.discard(self)

    async def discard_rest(self) -> None:
        """Read what is left of the body and drop it, within the body's deadline.

        Before a response that closes the connection (while draining): closing with unread
        data resets the connection, and a client still sending would get the reset instead of
        the response (nginx's ``lingering_close`` exists for the same reason).
        """
        loop = asyncio.get_running_loop()
        deadline = self.deadline if self.deadline is not None else loop.time() + self.timeout
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                while not self.done:
                    message = await self.receive()
                    if message["type"] != "http.request":
                        break
                    self.done = not message.get("more_body", False)

    async def _grow(self, chunk: int) -> None:
        """Take more of the budget as a body of unknown length outgrows what it holds."""
        self.received += chunk
        needed = BODY_COPIES * self.received
        if needed > self.taken:
            self.taken += await self.budget.take(max(needed, 2 * self.taken) - self.taken)


class _Deadlines:
    """The bodies being read, checked every ``interval`` seconds while there are any.

    One timer for all of them rather than one per request: uvloop's ``call_at`` and ``cancel``
    cost ~2 µs, a tenth of a small prediction's time in this middleware's budget.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.bodies: set[_Body] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, body: _Body) -> None:
        self.bodies.add(body)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._check)

    def _check(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        late = [body for body in self.bodies if body.deadline is not None and body.deadline <= now]
        for body in late:
            self.bodies.discard(body)
            body.expire()
        if self.bodies:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._check)


class TrafficGuard:
    """Body admission and deadline for requests with a body; ``Connection: close`` on drain.

    A request that arrives while the server drains gets the header on its response; one that was
    already in flight finishes as it started (uvicorn closes its connection at shutdown).
    """

    def __init__(
        self, app: ASGIApp, *, budget: ByteBudget, body_timeout: float, drain: Drain
    ) -> None:
        self.app = app
        self.budget = budget
        self.body_timeout = body_timeout
        self.drain = drain
        # A body is cut off between its deadline and a quarter of its timeout (or 1 s) later.
        self.deadlines = _Deadlines(min(1.0, body_timeout / 4))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, closing(send, None) if self.drain.active else send)
            return
        body = self.open_body(scope, receive)
        try:
            await self.app(scope, body, closing(send, body) if self.drain.active else send)
        finally:
            self.close_body(body)

    def open_body(self, scope: Scope, receive: Receive) -> _Body:
        """The request's ``receive``, guarded: admitted, with a deadline, once the app reads."""
        return _Body(
            receive, self.budget, self.deadlines, _declared_length(scope), self.body_timeout
        )

    def close_body(self, body: _Body) -> None:
        """The request is over: its deadline goes, its share of the budget comes back."""
        body.stop()
        self.budget.give(body.taken)


def closing(send: Send, body: _Body | None) -> Send:
    """``send`` adding ``Connection: close`` to the response (the server is draining)."""

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            if body is not None and not body.timed_out and not body.done:
                await body.discard_rest()  # answered early: let the client finish sending
            message = _with_close(message)
        await send(message)

    return send_closing


def _with_close(message: Message) -> Message:
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
    return {**message, "headers": [*headers, _CLOSE]}


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
