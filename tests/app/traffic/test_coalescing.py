"""The coalescing transport: one loop turn's writes in one send, order and bytes unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.traffic.coalescing import DIRECT_BYTES, CoalescingTransport

pytestmark = pytest.mark.anyio


class Recorder(asyncio.Transport):
    """An inner transport that records what reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []

    def write(self, data: Any) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.calls.append(("abort", None))

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 7


async def next_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_the_writes_of_one_turn_reach_the_socket_as_one_write() -> None:
    inner = Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.writelines([b"{", bytearray(b'"a"'), memoryview(b":1}")])
    assert inner.calls == []
    assert transport.get_write_buffer_size() == 7 + 19 + 7
    await next_turn()
    assert inner.calls == [("write", b'HTTP/1.1 200 OK\r\n\r\n{"a":1}')]
    transport.write(b"next")
    await next_turn()
    assert inner.calls[1:] == [("write", b"next")]


async def test_a_reused_bytearray_is_sent_as_it_was_when_written() -> None:
    inner = Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    buffer = bytearray(b"first")
    transport.write(buffer)
    buffer[:] = b"later"
    await next_turn()
    assert inner.calls == [("write", b"first")]


async def test_a_large_write_goes_out_at_once_after_what_was_gathered() -> None:
    inner = Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    large = b"x" * DIRECT_BYTES
    transport.write(b"head")
    transport.write(large)
    assert inner.calls == [("write", b"head"), ("write", large)]
    await next_turn()
    assert len(inner.calls) == 2


async def test_closing_sends_what_was_gathered_first_and_an_abort_drops_it() -> None:
    inner = Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"last words")
    transport.close()
    assert inner.calls == [("write", b"last words"), ("close", None)]
    other = Recorder()
    aborted = CoalescingTransport(other, asyncio.get_running_loop())
    aborted.write(b"never sent")
    aborted.abort()
    await next_turn()
    assert other.calls == [("abort", None)]
