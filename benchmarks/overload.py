"""Staying up: 200 concurrent 16 MB uploads beside a stream of 28x28 digits, 2,000 slow
connections, and SIGTERM with 60 uploads in flight, against the production command
(``python -m app``) with its default settings.

    .venv/bin/python -m benchmarks.overload                 # all three
    .venv/bin/python -m benchmarks.overload --only uploads  # or slow, sigterm

Targets (issue 14): every upload answered (2xx, 4xx or 503) and the server alive, peak RSS
<= 512 MB, the digits' p99 <= 100 ms; with 2,000 slow connections open, normal requests' p99
<= 50 ms and the slow ones closed after the body timeout; SIGTERM with 60 in flight: 0 lost.
The server runs on core 0, this load generator on core 1.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.loadgen import (
    HOST,
    Server,
    digit_png,
    get_request,
    multipart_request,
    pin_to_core,
    read_response,
    service_argv,
)

PORT = 18414
CHUNK = 256 * 1024


def photo_png(side: int) -> bytes:
    """A dark digit on grainy paper as an RGB PNG; ``side`` 2590 gives ~16.6 MB, inside the
    16 MiB limit with its multipart framing (the grain keeps it from compressing)."""
    rng = np.random.default_rng(side)
    pixels = (170 + rng.integers(0, 64, (side, side, 3))).astype(np.uint8)
    image = Image.fromarray(pixels, mode="RGB")
    stroke = [(side * 0.35, side * 0.25), (side * 0.62, side * 0.25), (side * 0.45, side * 0.78)]
    ImageDraw.Draw(image).line(stroke, fill=(20, 20, 50), width=side // 25)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


class RssSampler:
    """The server's RSS every 20 ms, in a thread: start, peak, latest."""

    def __init__(self, server: Server) -> None:
        self.server, self.peak, self.latest = server, server.rss_mb(), server.rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.latest = self.server.rss_mb()
            except (OSError, StopIteration):
                return
            self.peak = max(self.peak, self.latest)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


async def send(
    request: bytes, *, pause_at: int | None = None, gate: asyncio.Event | None = None
) -> int | str:
    """Send one request in chunks (optionally pausing at byte ``pause_at`` until ``gate``)."""
    try:
        reader, writer = await asyncio.open_connection(HOST, PORT)
        view = memoryview(request)
        for start in range(0, len(view), CHUNK):
            if (
                pause_at is not None
                and gate is not None
                and start >= pause_at
                and not gate.is_set()
            ):
                await gate.wait()
            writer.write(view[start : start + CHUNK])
            await writer.drain()
        status = await asyncio.wait_for(read_response(reader), timeout=180)
        writer.close()
        return status
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
        return type(exc).__name__


async def small_stream(
    request: bytes, stop: asyncio.Event, latencies: list[float], errors: Counter[str]
) -> None:
    """Digits, one after another on one keep-alive connection, until ``stop``."""
    reader, writer = await asyncio.open_connection(HOST, PORT)
    while not stop.is_set():
        started = time.perf_counter()
        writer.write(request)
        try:
            status = await read_response(reader)
        except (OSError, asyncio.IncompleteReadError) as exc:
            errors[type(exc).__name__] += 1
            reader, writer = await asyncio.open_connection(HOST, PORT)
            continue
        if status == 200:
            latencies.append(time.perf_counter() - started)
        else:
            errors[str(status)] += 1
        await asyncio.sleep(0.005)
    writer.close()


def verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}  {text}"


def summary(latencies: list[float], errors: Counter[str]) -> str:
    ok = f"{len(latencies)} ok, errors {dict(errors)}"
    return f"{ok}, p50 {p(latencies, 0.5):.1f} ms, p99 {p(latencies, 0.99):.1f} ms"


def p(latencies: list[float], q: float) -> float:
    return float(np.quantile(latencies, q)) * 1000 if latencies else float("nan")


async def uploads(server: Server, count: int) -> list[str]:
    big = multipart_request("/predict", photo_png(2590), filename="photo.png")
    small = multipart_request("/predict", digit_png())
    print(
        f"\n## {count} concurrent uploads of {len(big) / 1e6:.1f} MB, digits streaming beside them"
    )
    sampler = RssSampler(server)
    start_rss = sampler.latest
    stop, latencies, errors = asyncio.Event(), list[float](), Counter[str]()
    streams = [asyncio.create_task(small_stream(small, stop, latencies, errors)) for _ in range(4)]
    started = time.perf_counter()
    statuses = Counter(await asyncio.gather(*(send(big) for _ in range(count))))
    seconds = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*streams)
    await asyncio.sleep(5)
    after = sampler.latest
    sampler.stop()
    alive = server.process is not None and server.process.poll() is None
    answered = sum(n for s, n in statuses.items() if isinstance(s, int))
    print(f"uploads by status: {dict(statuses)} in {seconds:.1f} s")
    print(f"digits: {summary(latencies, errors)}")
    print(f"RSS: start {start_rss:.0f} MB, peak {sampler.peak:.0f} MB, 5 s after {after:.0f} MB")
    p99 = p(latencies, 0.99)
    return [
        verdict(answered == count and alive, f"every upload answered: {answered}/{count}"),
        verdict(sampler.peak <= 512, f"peak RSS <= 512 MB: {sampler.peak:.0f} MB"),
        verdict(p99 <= 100 and not errors, f"digits p99 <= 100 ms, no errors: {p99:.1f} ms"),
    ]


async def slow_connections(server: Server, count: int, body_timeout: float) -> list[str]:
    print(f"\n## {count} slow connections (headers, 4 bytes of a 1 MB body), normal requests")
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: image/png\r\n"
        f"Content-Length: {1024 * 1024}\r\n\r\n\x89PNG"
    ).encode()
    conns = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection(HOST, PORT)
        writer.write(head)
        conns.append((reader, writer))
    opened = time.perf_counter()
    stop, latencies, errors = asyncio.Event(), list[float](), Counter[str]()
    streams = [
        asyncio.create_task(
            small_stream(multipart_request("/predict", digit_png()), stop, latencies, errors)
        )
        for _ in range(4)
    ]
    health = [
        asyncio.create_task(small_stream(get_request("/health/live"), stop, latencies, errors))
    ]

    async def closed_after(reader: asyncio.StreamReader) -> tuple[int | str, float]:
        try:
            status = await asyncio.wait_for(read_response(reader), timeout=body_timeout + 60)
            await asyncio.wait_for(reader.read(), timeout=10)  # EOF: the server closed it
            return status, time.perf_counter() - opened
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            return type(exc).__name__, time.perf_counter() - opened

    results = await asyncio.gather(*(closed_after(reader) for reader, _ in conns))
    stop.set()
    await asyncio.gather(*streams, *health)
    for _, writer in conns:
        writer.close()
    statuses = Counter(status for status, _ in results)
    closing = [seconds for _, seconds in results]
    spread = f"{min(closing):.1f}-{max(closing):.1f} s (body timeout {body_timeout:g} s)"
    print(f"slow connections answered: {dict(statuses)}, closed after {spread}")
    print(f"normal requests: {summary(latencies, errors)}")
    p99 = p(latencies, 0.99)
    return [
        # Those admitted time out (408); the others wait for body budget that the admitted ones
        # hold and are refused (503 overloaded). Every one is answered and its connection closed.
        verdict(
            set(statuses) <= {408, 503} and max(closing) <= 2 * body_timeout + 10,
            f"slow ones answered (408/503) and closed: {dict(statuses)}, by {max(closing):.1f} s",
        ),
        verdict(p99 <= 50 and not errors, f"normal requests p99 <= 50 ms: {p99:.1f} ms"),
    ]


async def sigterm(server: Server, count: int) -> list[str]:
    print(f"\n## SIGTERM with {count} uploads in flight")
    photo = multipart_request("/predict", photo_png(800), filename="photo.png")
    gate = asyncio.Event()
    flights = [
        asyncio.create_task(send(photo, pause_at=len(photo) // 2, gate=gate)) for _ in range(count)
    ]
    await asyncio.sleep(1.0)  # every request received, half of each body sent
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    gate.set()
    statuses = Counter(await asyncio.gather(*flights))
    code = await asyncio.to_thread(server.process.wait, 60)
    lost = sum(n for s, n in statuses.items() if not isinstance(s, int))
    print(f"in-flight uploads by status: {dict(statuses)}; exit code {code}")
    if lost or code:
        print(server.output()[-3000:])
    return [
        f"{'PASS' if lost == 0 and code == 0 else 'FAIL'}  0 lost, exit 0: {lost} lost, exit {code}"
    ]


def start(env: dict[str, str]) -> Server:
    server = Server("ours", service_argv(PORT), PORT, "/health/ready", env=env)
    server.start(core=0)
    server.wait_ready()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["uploads", "slow", "sigterm"])
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--slow", type=int, default=2000)
    parser.add_argument("--body-timeout", type=float, default=10.0, help="MNIST_BODY_TIMEOUT_S (s)")
    parser.add_argument("--env", action="append", default=[], help="more server settings, K=V")
    arguments = parser.parse_args()
    pin_to_core(1)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # thousands of sockets, both sides
    verdicts: list[str] = []
    env = {"MNIST_BODY_TIMEOUT_S": str(arguments.body_timeout), "MNIST_LOG_LEVEL": "warning"}
    env.update(item.split("=", 1) for item in arguments.env)
    scenarios: dict[str, Callable[[Server], Coroutine[Any, Any, list[str]]]] = {
        "uploads": lambda server: uploads(server, arguments.uploads),
        "slow": lambda server: slow_connections(server, arguments.slow, arguments.body_timeout),
        "sigterm": lambda server: sigterm(server, 60),
    }
    for name, scenario in scenarios.items():
        if arguments.only not in (None, name):
            continue
        server = start(env)
        print(f"\n(load average {os.getloadavg()[0]:.1f})", end="")
        try:
            verdicts += asyncio.run(scenario(server))
        finally:
            server.stop()
    print()
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
