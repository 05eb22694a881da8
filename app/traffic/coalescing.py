"""uvicorn's httptools protocol, with the writes of one event-loop turn sent in one system call.

uvicorn writes a response's status line and headers when the app starts the response, then the
body when the app sends it: two ``send()`` calls and two TCP segments for a response that is
ready at once, as every JSON answer is. On loopback each ``send()`` costs the server ~5 µs (the
kernel delivers the segment to the reader within the writer's call), a few per cent of a
prediction. The transport here gathers what the protocol writes during one turn of the event
loop and sends it together at the end of the turn. A large write (64 KiB or more) goes out at
once, after whatever was gathered before it, so big bodies are never copied; closing the
connection sends what was gathered first. Order and content of the bytes are unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Writes this large go straight out: joining them with others would copy them for nothing.
DIRECT_BYTES = 64 * 1024


class CoalescingTransport(asyncio.Transport):
    """A transport that sends the writes of one loop turn together; the rest is ``inner``'s."""

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.inner = inner
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        if len(data) >= DIRECT_BYTES:
            self.flush()
            self.inner.write(data)
            return
        # A caller may reuse a bytearray once write() returns: keep a copy of anything mutable.
        self._pending.append(data if isinstance(data, bytes) else bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_turn)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview[Any]]) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush_turn(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Send what was gathered, in one write."""
        if self._pending:
            pending, self._pending = self._pending, []
            self.inner.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self.inner.close()

    def write_eof(self) -> None:
        self.flush()
        self.inner.write_eof()

    def abort(self) -> None:
        self._pending = []  # an abort drops unsent data, as the inner transport's own buffer
        self.inner.abort()

    def can_write_eof(self) -> bool:
        return self.inner.can_write_eof()

    def get_write_buffer_size(self) -> int:
        return self.inner.get_write_buffer_size() + sum(len(data) for data in self._pending)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.inner.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.inner.set_write_buffer_limits(high, low)

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def is_reading(self) -> bool:
        return self.inner.is_reading()

    def pause_reading(self) -> None:
        self.inner.pause_reading()

    def resume_reading(self) -> None:
        self.inner.resume_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.inner.get_protocol()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.inner.get_extra_info(name, default)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have all its methods.
        inner = cast(asyncio.Transport, transport)
        super().connection_made(CoalescingTransport(inner, self.loop))
