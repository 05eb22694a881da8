"""Soak: 64 concurrent clients for 10 minutes against ``python -m app``, mixing small and large
uploads (multipart and raw), several files at once, the standard protocols, bad inputs, weight
maps, metrics and docs.

    .venv/bin/python -m benchmarks.soak                      # 64 clients, 10 minutes
    .venv/bin/python -m benchmarks.soak --minutes 2 --window 20

Reports requests by kind and status, connection errors, p50/p99 per time window, and the
server's RSS at start (after a warm-up), peak and end. Targets (issue 14): 0 connection errors,
0 5xx, RSS growth from start to end < 10 %. The server runs on core 0, the clients on core 1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.loadgen import (
    HOST,
    Server,
    digit_png,
    get_request,
    json_request,
    mnist_pixels,
    multipart_request,
    pin_to_core,
    raw_image_request,
    read_response,
    service_argv,
    v2_binary_request,
)

PORT = 18415


def photo_jpeg(side: int, seed: int) -> bytes:
    """A dark digit on uneven, noisy paper, as a phone would take it (~1-2 MB at 2000 px)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(150, 230, side, dtype=np.float32)
    paper = ramp[None, :] + rng.normal(0, 12, (side, side)).astype(np.float32)
    image = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = side // 25
    draw.line(
        [(side * 0.35, side * 0.25), (side * 0.62, side * 0.25), (side * 0.45, side * 0.78)],
        fill=(30, 30, 60),
        width=width,
    )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


def several_files(count: int) -> bytes:
    boundary = "soakboundary"
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{i}.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + digit_png(i)
        + b"\r\n"
        for i in range(count)
    )
    body = parts + f"--{boundary}--\r\n".encode()
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: multipart/form-data; "
        f"boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def raw(method: str, path: str, content_type: str | None, body: bytes) -> bytes:
    typed = f"Content-Type: {content_type}\r\n" if content_type else ""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n{typed}Content-Length: {len(body)}"
    return f"{head}\r\n\r\n".encode() + body


def request_mix() -> list[tuple[str, bytes, int]]:
    """(kind, request, weight): what the clients send, and how often."""
    photo, large = photo_jpeg(800, 1), photo_jpeg(2000, 2)
    tf_instances = {"instances": [(mnist_pixels(0)[0] / 255.0).round(4).tolist()]}
    tf_b64 = {"instances": [{"b64": base64.b64encode(digit_png(3)).decode()}]}
    return [
        ("digit multipart", multipart_request("/predict", digit_png(1)), 30),
        ("digit raw", raw_image_request("/predict", digit_png(2)), 20),
        ("8 digits multipart", several_files(8), 5),
        ("photo 800 px multipart", multipart_request("/predict", photo, filename="photo.jpg"), 3),
        ("photo 800 px raw", raw("POST", "/predict", "image/jpeg", photo), 2),
        ("photo 2000 px multipart", multipart_request("/predict", large, filename="big.jpg"), 1),
        ("v2 binary", v2_binary_request("/v2/models/mnist/infer", mnist_pixels(4)), 5),
        ("tfserving json", json_request("/v1/models/mnist:predict", tf_instances), 3),
        ("tfserving b64", json_request("/v1/models/mnist:predict", tf_b64), 2),
        ("bad: not an image", raw("POST", "/predict", "image/png", b"not an image at all"), 3),
        ("bad: empty body", raw("POST", "/predict", "image/png", b""), 2),
        ("bad: content type", raw("POST", "/predict", "text/plain", b"hello"), 2),
        ("bad: unknown model", multipart_request("/models/nope/predict", digit_png(5)), 2),
        ("bad: v2 json", json_request("/v2/models/mnist/infer", {"inputs": [{"name": "x"}]}), 2),
        ("weights.png", get_request("/weights.png"), 3),
        ("weights json", get_request("/weights"), 2),
        ("metrics", get_request("/metrics"), 3),
        ("docs", get_request("/docs"), 2),
        ("openapi.json", get_request("/openapi.json"), 2),
        ("models", get_request("/models"), 3),
        ("ready", get_request("/health/ready"), 3),
    ]


@dataclass
class Tally:
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    connection_errors: Counter[str] = field(default_factory=Counter)
    windows: defaultdict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    by_kind: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


async def client(
    mix: list[tuple[str, bytes, int]],
    tally: Tally,
    started: float,
    window: float,
    deadline: float,
    seed: int,
) -> None:
    rng = random.Random(seed)
    kinds = [kind for kind, _, _ in mix]
    requests = {kind: request for kind, request, _ in mix}
    weights = [weight for _, _, weight in mix]
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(HOST, PORT)
    while loop.time() < deadline:
        kind = rng.choices(kinds, weights)[0]
        begin = time.perf_counter()
        try:
            writer.write(requests[kind])
            await writer.drain()
            status = await asyncio.wait_for(read_response(reader), timeout=60)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            tally.connection_errors[f"{kind}: {type(exc).__name__}"] += 1
            writer.close()
            reader, writer = await asyncio.open_connection(HOST, PORT)
            continue
        tally.statuses[(kind, status)] += 1
        elapsed = time.perf_counter() - begin
        tally.windows[int((begin - started) // window)].append(elapsed)
        tally.by_kind[kind].append(elapsed)
    writer.close()


def sample_rss(server: Server, samples: list[tuple[float, float]], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        samples.append((time.perf_counter(), server.rss_mb()))


async def soak(clients: int, seconds: float, window: float, warmup: float) -> Tally:
    mix = request_mix()
    tally = Tally()
    started = time.perf_counter()
    deadline = asyncio.get_running_loop().time() + seconds
    await asyncio.gather(
        *(client(mix, tally, started, window, deadline, seed) for seed in range(clients))
    )
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=60.0, help="seconds per latency window")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before start RSS")
    arguments = parser.parse_args()
    pin_to_core(1)
    server = Server(
        "ours", service_argv(PORT), PORT, "/health/ready", env={"MNIST_LOG_LEVEL": "warning"}
    )
    server.start(core=0)
    server.wait_ready()
    ready_rss = server.rss_mb()
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores shared with other jobs?)")
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(server, samples, stop), daemon=True)
    began = time.perf_counter()
    sampler.start()
    try:
        tally = asyncio.run(
            soak(arguments.clients, arguments.minutes * 60, arguments.window, arguments.warmup)
        )
        alive = server.process is not None and server.process.poll() is None
    finally:
        stop.set()
        sampler.join()
        server.stop()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    report(tally, samples, began, ready_rss, arguments, alive)


def report(
    tally: Tally,
    samples: list[tuple[float, float]],
    began: float,
    ready_rss: float,
    arguments: argparse.Namespace,
    alive: bool,
) -> None:
    total = sum(tally.statuses.values())
    rate = total / (arguments.minutes * 60)
    print(
        f"\n{arguments.clients} clients, {arguments.minutes:g} min: {total} requests, {rate:.0f}/s"
    )
    by_kind: defaultdict[str, Counter[int]] = defaultdict(Counter)
    for (kind, status), count in tally.statuses.items():
        by_kind[kind][status] += count
    print("\n| request | statuses | p50 ms | p99 ms |\n| --- | --- | ---: | ---: |")
    for kind, statuses in sorted(by_kind.items()):
        counts = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))
        p50, p99 = (np.quantile(tally.by_kind[kind], q) * 1000 for q in (0.5, 0.99))
        print(f"| {kind} | {counts} | {p50:.1f} | {p99:.1f} |")
    errors = sum(tally.connection_errors.values())
    print(f"\nconnection errors: {errors} {dict(tally.connection_errors)}")
    print("\n| window | requests | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: |")
    for index, latencies in sorted(tally.windows.items()):
        low, high = index * arguments.window, (index + 1) * arguments.window
        p50, p99 = (np.quantile(latencies, q) * 1000 for q in (0.5, 0.99))
        print(f"| {low:.0f}-{high:.0f} s | {len(latencies)} | {p50:.1f} | {p99:.1f} |")
    after_warmup = [rss for t, rss in samples if t - began >= arguments.warmup]
    start_rss = after_warmup[0] if after_warmup else ready_rss
    peak = max((rss for _, rss in samples), default=ready_rss)
    end = samples[-1][1] if samples else ready_rss
    growth = (end - start_rss) / start_rss * 100
    print(
        f"\nRSS: ready {ready_rss:.0f} MB, start (after {arguments.warmup:g} s) {start_rss:.0f} MB,"
    )
    print(f"     peak {peak:.0f} MB, end {end:.0f} MB: growth {growth:+.1f} %")
    server_errors = sum(n for (_, status), n in tally.statuses.items() if status >= 500)
    print()
    print(f"{'PASS' if errors == 0 and alive else 'FAIL'}  0 connection errors, alive: {errors}")
    print(f"{'PASS' if server_errors == 0 else 'FAIL'}  0 5xx: {server_errors}")
    print(f"{'PASS' if growth < 10 else 'FAIL'}  RSS growth < 10 %: {growth:+.1f} %")
    print(
        json.dumps(
            {
                "requests": total,
                "connection_errors": errors,
                "5xx": server_errors,
                "rss_growth_pct": round(growth, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
