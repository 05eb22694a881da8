"""Workers on one machine: throughput of 1 vs 2 workers, and start -> ready of N workers.

Every figure comes from this one run.

* throughput: ``POST /predict`` (one MNIST digit, raw PNG body) over 16 keep-alive connections
  against ``python -m app`` with MNIST_WORKERS=1 and =2 (gunicorn's arbiter over uvicorn
  workers), and ``uvicorn --workers 2``, the alternative supervisor. Nothing is pinned: the
  servers and the load generator (one asyncio process) share this machine's cores, so with 2
  cores the load generator takes a good part of one. The variants alternate in rounds; medians
  of the rounds, and of per-round ratios.
* start -> ready: MNIST_WORKERS=N, from launching the process to the first ready answer, and to
  the last worker having its model (read from the workers' log lines); with an empty compile
  cache (one worker compiles, the others wait for it and read its result) and a warm one.

    .venv/bin/python -m benchmarks.workers
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from benchmarks.loadgen import LoadResult, Server, digit_png, median, raw_image_request, run_load

PORT = 18410


def variants(cache: Path) -> dict[str, Server]:
    env = {"MNIST_CACHE_DIR": str(cache), "MNIST_LOG_LEVEL": "warning"}
    launcher = [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port"]
    uvicorn = [
        sys.executable, "-m", "uvicorn", "app.main:app", "--workers", "2", "--host", "127.0.0.1",
        "--no-access-log", "--loop", "uvloop", "--http", "httptools", "--port", str(PORT + 2),
    ]  # fmt: skip
    return {
        "1 worker": Server(
            "1 worker", [*launcher, str(PORT)], PORT, "/health/ready", {**env, "MNIST_WORKERS": "1"}
        ),
        "2 workers (gunicorn: python -m app)": Server(
            "2 workers (gunicorn)",
            [*launcher, str(PORT + 1)],
            PORT + 1,
            "/health/ready",
            {**env, "MNIST_WORKERS": "2"},
        ),
        "2 workers (uvicorn --workers)": Server(
            "2 workers (uvicorn)",
            uvicorn,
            PORT + 2,
            "/health/ready",
            {**env, "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="uvicorn-metrics-")},
        ),
    }


async def throughput(
    servers: dict[str, Server], rounds: int, seconds: float, connections: int
) -> dict[str, list[LoadResult]]:
    request = raw_image_request("/predict", digit_png())
    results: dict[str, list[LoadResult]] = {name: [] for name in servers}
    for round_number in range(rounds + 1):
        for name, server in servers.items():
            result = await run_load(
                server.port, request, connections=connections, seconds=seconds, max_requests=10**6
            )
            if round_number > 0:  # round 0 warms up the servers and the client
                results[name].append(result)
    return results


def report_throughput(results: dict[str, list[LoadResult]], connections: int) -> None:
    rounds = len(next(iter(results.values())))
    print(f"\nPOST /predict, raw PNG body, {connections} connections, {rounds} rounds (medians)")
    print(f"{os.cpu_count()} cores shared by the servers and the load generator\n")
    print("| server | req/s | p50 ms | p99 ms | errors | vs 1 worker (per-round median) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    single = results["1 worker"]
    for name, runs in results.items():
        ratios = [
            run.requests_per_second / base.requests_per_second
            for run, base in zip(runs, single, strict=True)
        ]
        print(
            f"| {name} | {median([r.requests_per_second for r in runs]):,.0f}"
            f" | {median([r.latency_ms(0.5) for r in runs]):.1f}"
            f" | {median([r.latency_ms(0.99) for r in runs]):.1f}"
            f" | {sum(r.errors for r in runs)} | {median(ratios):.2f}x |"
        )


def worker_load_times(output: str) -> list[float]:
    """Wall-clock times at which each worker logged its model available."""
    times = []
    for line in output.splitlines():
        if line.startswith("{") and '"model version available"' in line:
            entry = json.loads(line)
            times.append(datetime.fromisoformat(entry["time"]).timestamp())
    return times


def start_to_ready(workers: int, cache: Path, port: int) -> tuple[float, float, int, float]:
    """Seconds to the first ready answer, to the last worker's model; compiles; RSS (MB)."""
    server = Server(
        f"{workers} workers",
        [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port)],
        port,
        "/health/ready",
        {"MNIST_CACHE_DIR": str(cache), "MNIST_WORKERS": str(workers)},
    )
    launched = time.time()
    server.start(core=None)
    try:
        first = server.wait_ready()
        deadline = time.monotonic() + 120
        while len(worker_load_times(server.output())) < workers:
            if time.monotonic() > deadline:
                sys.exit(f"not every worker loaded its model:\n{server.output()[-3000:]}")
            time.sleep(0.05)
        output = server.output()
        last = max(worker_load_times(output)) - launched
        compiles = output.count('"cache":"miss"')
        memory = server.tree_rss_mb()
    finally:
        server.stop()
    return first, last, compiles, memory


def report_start(repeats: int, counts: list[int]) -> None:
    print(f"\nstart -> ready with N workers (medians of {repeats} starts)\n")
    print(
        "| workers | cache | first ready | last worker has its model | spread | compiles"
        " | RSS, all processes |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    warm = Path(tempfile.mkdtemp(prefix="bench-workers-warm-"))
    start_to_ready(1, warm, PORT + 10)  # fills the warm cache
    for workers in counts:
        for kind in ("empty", "warm"):
            runs = []
            for repeat in range(repeats):
                cache = (
                    warm if kind == "warm" else Path(tempfile.mkdtemp(prefix="bench-workers-cold-"))
                )
                runs.append(start_to_ready(workers, cache, PORT + 11 + repeat))
            first = median([r[0] for r in runs])
            last = median([r[1] for r in runs])
            spread = median([r[1] - r[0] for r in runs])
            compiles = max(r[2] for r in runs)
            memory = median([r[3] for r in runs])
            print(
                f"| {workers} | {kind} | {first:.2f} s | {last:.2f} s | {spread:+.2f} s"
                f" | {compiles} | {memory:.0f} MB |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    print(f"{datetime.now().isoformat(timespec='seconds')}, {os.cpu_count()} cores")

    if not args.skip_throughput:
        cache = Path(tempfile.mkdtemp(prefix="bench-workers-"))
        servers = variants(cache)
        try:
            for server in servers.values():
                server.start(core=None)
                server.wait_ready()
                time.sleep(2)  # every worker of a multi-worker server has its model by now
            results = asyncio.run(throughput(servers, args.rounds, args.seconds, args.connections))
        finally:
            for server in servers.values():
                server.stop()
        report_throughput(results, args.connections)
    report_start(args.repeats, args.workers)


if __name__ == "__main__":
    main()
