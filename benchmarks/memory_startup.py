"""Start-up time and memory: process start -> ready, RSS after start and across 10,000 requests.

The server runs as in production (``python -m app``: uvicorn on uvloop and httptools) pinned to
core 0; this script loads it from core 1 with 16 connections, alternating multipart and raw-body
/predict requests, and samples the server's resident set size after every 1,000 of them.

    .venv/bin/python -m benchmarks.memory_startup
"""

from __future__ import annotations

import argparse

import uvloop

from benchmarks.loadgen import (
    Server,
    digit_png,
    multipart_request,
    pin_to_core,
    raw_image_request,
    run_load,
    service_argv,
)

PORT = 18310
MAX_RSS_MB = 600
MAX_GROWTH_MB = 20  # "flat": what the first 1,000 requests leave allocated may not keep growing
MAX_READY_S = 8.0


async def drive(server: Server, requests: int, step: int) -> tuple[list[float], int]:
    """Send ``requests`` /predict requests in steps; RSS after each step and the error count."""
    png = digit_png()
    bodies = [multipart_request("/predict", png), raw_image_request("/predict", png)]
    samples, errors = [], 0
    for sent in range(0, requests, step):
        result = await run_load(
            PORT, bodies[(sent // step) % 2], connections=16, seconds=120, max_requests=step
        )
        errors += result.errors
        samples.append(server.rss_mb())
    return samples, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--step", type=int, default=1_000)
    args = parser.parse_args()

    server = Server(
        "ours",
        service_argv(PORT),
        PORT,
        "/health/ready",
    )
    server.start(core=0)
    pin_to_core(1)
    try:
        ready_s = server.wait_ready()
        start_rss = server.rss_mb()
        samples, errors = uvloop.run(drive(server, args.requests, args.step))
    finally:
        server.stop()

    growth = samples[-1] - samples[0]
    checks = [
        (f"process start -> ready: {ready_s:.2f} s", ready_s <= MAX_READY_S, f"<= {MAX_READY_S} s"),
        (f"RSS after start: {start_rss:.0f} MB", start_rss <= MAX_RSS_MB, f"<= {MAX_RSS_MB} MB"),
        (
            f"RSS after {args.requests} requests: {samples[-1]:.0f} MB",
            samples[-1] <= MAX_RSS_MB,
            f"<= {MAX_RSS_MB} MB",
        ),
        (
            f"RSS growth from request {args.step} to {args.requests}: {growth:+.1f} MB",
            growth <= MAX_GROWTH_MB,
            f"<= {MAX_GROWTH_MB} MB",
        ),
        (f"errors: {errors}", errors == 0, "0"),
    ]
    print("RSS (MB) every", args.step, "requests:", " ".join(f"{s:.0f}" for s in samples))
    for text, ok, goal in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}  (goal {goal})")
    raise SystemExit(0 if all(ok for _, ok, _ in checks) else 1)


if __name__ == "__main__":
    main()
