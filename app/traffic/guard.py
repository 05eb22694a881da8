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
    """The request's ``receive``, with admission, a deadline and the bytes taken from the budget."""

    __slots__ = (
        "budget",
        "deadline",
        "declared",
        "done",
        "receive",
        "received",
        "taken",
        "timed_out",
        "timeout",
    )

    def __init__(
        self, receive: Receive, budget: ByteBudget, declared: int | None, timeout: float
    ) -> None:
        self.receive = receive
        self.budget = budget
        self.declared = declared
        self.timeout = timeout
        self.deadline: float | None = None
        self.taken = 0
        self.received = 0
        self.done = False
        self.timed_out = False

    async def __call__(self) -> Message:
        if self.done:  # after the body only a disconnect can come: no deadline on that
            return await self.receive()
        if self.deadline is None:
            first = self.declared if self.declared is not None else UNKNOWN_LENGTH_START
            self.taken = await self.budget.take(BODY_COPIES * first)
            self.deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self.receive()
        except TimeoutError:
            self.timed_out = True
            raise BodyTimeoutError(
                f"the request body did not arrive within {self.timeout:g} seconds",
                details={"body_timeout_s": self.timeout},
            ) from None
        if message["type"] == "http.request":
            self.done = not message.get("more_body", False)
            if self.declared is None:
                await self._grow(len(message.get("body", b"")))
        return message

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


class TrafficGuard:
    """Body admission and deadline for requests with a body; ``Connection: close`` on drain."""

    def __init__(
        self, app: ASGIApp, *, budget: ByteBudget, body_timeout: float, drain: Drain
    ) -> None:
        self.app = app
        self.budget = budget
        self.body_timeout = body_timeout
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, self._closing(send) if self.drain.active else send)
            return
        body = _Body(receive, self.budget, _declared_length(scope), self.body_timeout)
        drain = self.drain

        async def send_closing_if_needed(message: Message) -> None:
            if message["type"] == "http.response.start" and (body.timed_out or drain.active):
                if not body.timed_out and not body.done:
                    await body.discard_rest()  # answered early: let the client finish sending
                message = _with_close(message)
            await send(message)

        try:
            await self.app(scope, body, send_closing_if_needed)
        finally:
            self.budget.give(body.taken)

    def _closing(self, send: Send) -> Send:
        async def send_closing(message: Message) -> None:
            await send(
                _with_close(message) if message["type"] == "http.response.start" else message
            )

        return send_closing


def _with_close(message: Message) -> Message:
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
    return {**message, "headers": [*headers, _CLOSE]}


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
