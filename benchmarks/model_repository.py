"""Model repository benchmark: start-up with and without the compile cache, swaps under load,
and /predict throughput with the registry in the path against the last single-model release.

Every figure comes from this one run. Servers run pinned to core 0, the load generator on core 1.

* cold start -> ready: an empty compile cache, so TensorFlow compiles in a child process; with
  one model, and with three different ones (the committed model and two with other weights, so
  each compiles: TensorFlow is imported once for all three), against the single-model release.
* warm restart -> ready: the same servers started again over the filled cache.
  Each kind is started ``--repeats`` times, the kinds alternating; medians are compared. The
  servers may use every core while starting (nothing else runs then), as in a deployment.
* swaps under load: while 16 connections keep predicting, versions are moved into the polled
  repository and removed again; every non-200 answer and connection error counts as failed.
* throughput: /predict (multipart) of this code against the single-model release (a git
  worktree of ``--baseline``), alternated in paired rounds; the ratio is the median of per-round
  ratios. The baseline's start -> ready is today's cold start to compare with.

    .venv/bin/python -m benchmarks.model_repository
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvloop

from benchmarks.loadgen import (
    REPO,
    LoadResult,
    Server,
    digit_png,
    median,
    multipart_request,
    pin_to_core,
    run_load,
    service_argv,
    uvicorn_argv,
)

# The last commit that served one model loaded at start-up (before the repository existed).
BASELINE = "c3b3cff"
PORT, BASELINE_PORT = 18320, 18321
FLAGS = ("--loop", "uvloop", "--http", "httptools")
COMMITTED = REPO / "model" / "mnist" / "1"
GOALS = {
    "warm": "warm-cache restart -> ready <= 1.5 s",
    "cold": "cold start -> ready with three models <= the single-model release's cold start",
    "swaps": "0 failed requests while versions are swapped under load",
    "throughput": "/predict throughput with the registry >= 0.95x the single-model release",
    "asgi": "/predict CPU cost in process: ours <= 1/0.95 of the release's",
}


# Writes a copy of a SavedModel whose variables are scaled: another model, compiled on its own.
_VARIANT = """
import sys
import tensorflow as tf
source, target, scale = sys.argv[1], sys.argv[2], float(sys.argv[3])
model = tf.saved_model.load(source)
variables = {id(v): v for f in model.signatures.values() for v in f.variables}
for variable in variables.values():
    variable.assign(variable * scale)
tf.saved_model.save(model, target, signatures=dict(model.signatures))
"""


def repository(root: Path, names: list[str], sources: list[Path] | None = None) -> Path:
    for index, name in enumerate(names):
        shutil.copytree(sources[index] if sources else COMMITTED, root / name / "1")
    return root


def variants(work: Path, count: int) -> list[Path]:
    """The committed model and ``count - 1`` others like it, with their weights scaled."""
    made = [COMMITTED]
    for index in range(1, count):
        target = work / "variants" / str(index)
        argv = [sys.executable, "-c", _VARIANT, str(COMMITTED), str(target), str(1 + index / 100)]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        subprocess.run(argv, env=env, check=True, capture_output=True)
        made.append(target)
    return made


def server(name: str, models: Path, cache: Path | str, port: int = PORT, **env: str) -> Server:
    settings = {"MNIST_MODEL_DIR": str(models), "MNIST_CACHE_DIR": str(cache), **env}
    return Server(name, service_argv(port), port, "/health/ready", settings)


def start_to_ready(candidate: Server) -> float:
    candidate.start(core=None)
    try:
        return candidate.wait_ready(timeout=300)
    finally:
        candidate.stop()


def release_server(checkout: Path, port: int = BASELINE_PORT) -> Server:
    """The single-model release, from its own checkout, serving the committed model."""
    env = {"MNIST_MODEL_DIR": str(REPO / "model")}
    # That release predates ``python -m app``: uvicorn with the same loop and HTTP parser.
    argv = uvicorn_argv("app.main:app", port, *FLAGS)
    return Server("single-model release", argv, port, "/health/ready", env, cwd=checkout)


def startup(work: Path, checkout: Path, repeats: int) -> dict[str, list[float]]:
    """Start -> ready, ``repeats`` times each, the kinds alternating (the VM's speed drifts)."""
    one = repository(work / "one", ["mnist"])
    three = repository(work / "three", ["mnist", "mnist-b", "mnist-c"], variants(work, 3))
    figures: dict[str, list[float]] = {}
    for attempt in range(repeats):
        # Each attempt starts cold: a fresh, empty cache.
        caches = {label: work / f"cache-{label}-{attempt}" for label in ("1", "3")}
        runs = {
            "release, cold": release_server(checkout),
            "cold, 1 model": server("cold", one, caches["1"]),
            "cold, 3 models": server("cold", three, caches["3"]),
            "warm, 1 model": server("warm", one, caches["1"]),
            "warm, 3 models": server("warm", three, caches["3"]),
        }
        for label, candidate in runs.items():
            figures.setdefault(label, []).append(start_to_ready(candidate))
    shutil.copytree(work / "cache-1-0", work / "cache-1", dirs_exist_ok=True)
    return figures


def swap_versions(model: Path, swaps: int, served: threading.Event, pause: float) -> None:
    """Move a new version in, then (every other swap) remove the newest again: a rollback."""
    newest = 1
    for swap in range(swaps):
        time.sleep(pause)
        if swap % 2 == 0:
            newest += 1
            staging = model / f".tmp-{newest}"
            shutil.copytree(COMMITTED, staging)
            staging.rename(model / str(newest))
        else:
            shutil.rmtree(model / str(newest))
            newest -= 1
    time.sleep(pause)
    served.set()


async def load_during(port: int, request: bytes, done: threading.Event) -> LoadResult:
    total = LoadResult()
    while not done.is_set():
        part = await run_load(port, request, connections=16, seconds=0.5, max_requests=100_000)
        total.seconds += part.seconds
        total.latencies += part.latencies
        total.errors += part.errors
    return total


def swaps_under_load(work: Path, swaps: int) -> tuple[LoadResult, int, str]:
    models = repository(work / "swaps", ["mnist"])
    cache = work / "cache-1"  # warm from the start-up runs: every version here is a hit
    candidate = server("swaps", models, cache, MNIST_POLL_SECONDS="0.2")
    candidate.start(core=0)
    try:
        candidate.wait_ready(timeout=300)
        done = threading.Event()
        swapper = threading.Thread(
            target=swap_versions, args=(models / "mnist", swaps, done, 1.0), daemon=True
        )
        swapper.start()
        result = uvloop.run(load_during(PORT, multipart_request("/predict", digit_png()), done))
        swapper.join()
        output = candidate.output()
    finally:
        candidate.stop()
    unloaded = output.count('"message":"model version unloading"')
    return result, unloaded, output


def throughput(work: Path, checkout: Path, rounds: int, seconds: float) -> float:
    ours = server("ours", repository(work / "tp", ["mnist"]), work / "cache-1")
    before = release_server(checkout)
    try:
        ours.start(core=0)
        before.start(core=0)
        ours.wait_ready(timeout=300)
        before.wait_ready(timeout=300)
        request = multipart_request("/predict", digit_png())

        async def rate(port: int) -> float:
            result = await run_load(
                port, request, connections=16, seconds=seconds, max_requests=10**6
            )
            return result.requests_per_second

        async def paired() -> list[float]:
            ratios = []
            for round_number in range(rounds + 1):
                # A-B-B-A within a round: a steady drift of the VM's speed cancels out.
                a1, b1 = await rate(PORT), await rate(BASELINE_PORT)
                b2, a2 = await rate(BASELINE_PORT), await rate(PORT)
                if round_number and b1 + b2:  # round 0 warms both up
                    ratios.append((a1 + a2) / (b1 + b2))
                    print(
                        f"  round {round_number}: {(a1 + a2) / 2:.0f} vs {(b1 + b2) / 2:.0f}"
                        f" req/s ({ratios[-1]:.3f}x)"
                    )
            return ratios

        ratios = uvloop.run(paired())
    finally:
        ours.stop()
        before.stop()
    return median(ratios)


# Runs in a checkout's own interpreter: builds that checkout's app, starts its lifespan, and times
# POST /predict through the whole ASGI stack (middleware, routing, our code) with no network.
_ASGI_DRIVER = """
import sys, time, uvloop
from app.main import create_app
body, boundary, count = open(sys.argv[1], "rb").read(), sys.argv[2], int(sys.argv[3])
app = create_app()
headers = [(b"content-type", b"multipart/form-data; boundary=" + boundary.encode()),
           (b"content-length", str(len(body)).encode()), (b"host", b"bench")]
scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
         "scheme": "http", "path": "/predict", "raw_path": b"/predict", "root_path": "",
         "query_string": b"", "headers": headers, "client": ("127.0.0.1", 1),
         "server": ("127.0.0.1", 80)}
statuses = []
async def receive():
    return {"type": "http.request", "body": body, "more_body": False}
async def send(message):
    if message["type"] == "http.response.start":
        statuses.append(message["status"])
async def main():
    async with app.router.lifespan_context(app):
        for _ in range(count // 5):
            await app(scope, receive, send)
        started = time.perf_counter()
        for _ in range(count):
            await app(scope, receive, send)
        print((time.perf_counter() - started) / count * 1e6)
    assert set(statuses) == {200}, set(statuses)
uvloop.run(main())
"""


def asgi_cost(work: Path, checkout: Path, runs: int, count: int) -> float:
    """Median ratio of the release's CPU time per /predict to ours (> 1: ours is cheaper)."""
    request = multipart_request("/predict", digit_png())
    head, _, body = request.partition(b"\r\n\r\n")
    boundary = head.split(b"boundary=")[1].split(b"\r\n")[0].decode()
    body_file = work / "multipart.bin"
    body_file.write_bytes(body)
    models = repository(work / "asgi", ["mnist"])
    ours_env = {"MNIST_MODEL_DIR": str(models), "MNIST_CACHE_DIR": str(work / "cache-1")}
    release_env = {"MNIST_MODEL_DIR": str(REPO / "model")}

    def cost(cwd: Path, env: dict[str, str]) -> float:
        argv = ["taskset", "-c", "0", sys.executable, "-c", _ASGI_DRIVER]
        argv += [str(body_file), boundary, str(count)]
        child = subprocess.run(
            argv,
            cwd=cwd,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MNIST_LOG_LEVEL": "warning", **env},
            capture_output=True,
            text=True,
            check=True,
        )
        return float(child.stdout.strip().splitlines()[-1])

    ratios = []
    for run in range(runs):
        a1, b1 = cost(REPO, ours_env), cost(checkout, release_env)
        b2, a2 = cost(checkout, release_env), cost(REPO, ours_env)
        ratios.append((b1 + b2) / (a1 + a2))
        print(
            f"  run {run + 1}: {(a1 + a2) / 2:.0f} µs ours, {(b1 + b2) / 2:.0f} µs release"
            f" per request ({ratios[-1]:.3f}x)"
        )
    return median(ratios)


def run_parts(
    args: argparse.Namespace,
    parts: set[str],
    work: Path,
    checkout: Path,
    checks: dict[str, tuple[str, bool]],
) -> None:
    print(f"start-up (process start -> /health/ready 200), {args.repeats} runs each:")
    times = startup(work, checkout, args.repeats)  # also fills the cache the other parts use
    for label, runs in times.items():
        spread = ", ".join(f"{r:.2f}" for r in runs)
        print(f"  {label:<16} median {median(runs):6.2f} s   ({spread})")
    warm, three_warm = median(times["warm, 1 model"]), median(times["warm, 3 models"])
    checks["warm"] = (f"{warm:.2f} s (3 models {three_warm:.2f} s)", warm <= 1.5)
    cold, release = median(times["cold, 3 models"]), median(times["release, cold"])
    checks["cold"] = (f"{cold:.2f} s vs {release:.2f} s", cold <= release)
    if "swaps" in parts:
        print(f"swaps under load ({args.swaps} swaps, 16 connections):")
        result, unloaded, _ = swaps_under_load(work, args.swaps)
        total = len(result.latencies) + result.errors
        print(
            f"  {total} requests, {result.errors} failed, {unloaded} versions unloaded,"
            f" p99 {result.latency_ms(0.99):.1f} ms"
        )
        checks["swaps"] = (f"{result.errors} of {total} ({unloaded} unloads)", result.errors == 0)
    if "throughput" in parts:
        print(f"/predict throughput vs the single-model release ({args.baseline}):")
        ratio = throughput(work, checkout, args.rounds, args.seconds)
        print(f"  median ratio {ratio:.3f}x")
        checks["throughput"] = (f"{ratio:.3f}x", ratio >= 0.95)
    if "asgi" in parts:
        print("CPU time per /predict in process (the whole ASGI stack, no network), A-B-B-A:")
        cheaper = asgi_cost(work, checkout, args.rounds // 2 or 1, 3000)
        print(f"  median: the release costs {cheaper:.3f}x ours per request")
        checks["asgi"] = (f"{cheaper:.3f}x", cheaper >= 0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="start-up runs of each kind")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=1.0, help="per server, twice a round")
    parser.add_argument("--baseline", default=BASELINE, help="git ref of the release to compare")
    parser.add_argument(
        "--parts",
        default="swaps,throughput,asgi",
        help="what to run after start-up (comma list)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    pin_to_core(1)
    checks: dict[str, tuple[str, bool]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-repository-") as tmp:
        work = Path(tmp)
        checkout = work / "release"
        git = ["git", "worktree", "add", "--detach", "--quiet", str(checkout), args.baseline]
        subprocess.run(git, cwd=REPO, check=True)
        try:
            run_parts(args, parts, work, checkout, checks)
        finally:
            remove = ["git", "worktree", "remove", "--force", str(checkout)]
            subprocess.run(remove, cwd=REPO, check=False)
    print()
    for key, (measured, ok) in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {GOALS[key]}: {measured}")
    raise SystemExit(0 if all(ok for _, ok in checks.values()) else 1)


if __name__ == "__main__":
    main()
