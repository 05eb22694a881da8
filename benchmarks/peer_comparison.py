"""Peer benchmark: our server against KServe's ModelServer, MLServer and BentoML, in one run.

Each peer runs its documented default setup (``benchmarks/peers/``: a KServe ``Model``, an
MLServer ``MLModel`` runtime, a BentoML service; each decodes PNGs with Pillow and calls the
SavedModel's ``serving_default`` signature), from its own venv (``benchmarks/peers/setup.sh``).
Like is compared with like: our TF Serving/KServe v1 endpoint with KServe's v1, our v2 endpoint
with MLServer's (BYTES files and UINT8 tensors), our native multipart ``/predict`` with BentoML's
multipart, and with every peer. One MNIST test image per request, 16 connections, every server
pinned to core 0 and the load to core 1, paired 1-s rounds (ours, peer, peer, ours), medians of
per-round ratios. Before timing, each peer must answer our digits for 20 MNIST test images.

    benchmarks/peers/setup.sh && .venv/bin/python -m benchmarks.peer_comparison
    .venv/bin/python -m benchmarks.peer_comparison --peers mlserver --rounds 4   # while iterating
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvloop

from benchmarks.loadgen import (
    REPO,
    LoadResult,
    Server,
    digit_png,
    json_request,
    median,
    mnist_pixels,
    multipart_request,
    pin_to_core,
    run_load,
    service_argv,
)

PEERS_DIR = REPO / "benchmarks" / "peers"
VENVS = REPO / ".venv-peers"
MODEL = REPO / "model" / "mnist" / "1"
OURS, KSERVE, MLSERVER, BENTOML = 18600, 18601, 18611, 18621
PEERS = ("kserve", "mlserver", "bentoml")


@dataclass
class Pair:
    """One comparison: the peer's request and ours on the same protocol (None: native only)."""

    label: str
    peer: bytes
    ours: bytes


def peer_servers(work: Path) -> dict[str, Server]:
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    kserve = Server(
        "KServe 0.21 ModelServer",
        [str(VENVS / "kserve/bin/python"), "kserve_server.py", "--model_dir", str(MODEL),
         "--http_port", str(KSERVE), "--grpc_port", str(KSERVE + 1)],
        KSERVE, "/v1/models/mnist", env, cwd=PEERS_DIR,
    )  # fmt: skip
    repository = work / "mlserver"
    (repository / "mnist").mkdir(parents=True)
    shutil.copy(PEERS_DIR / "mlserver" / "runtime.py", repository / "mnist")
    ports = {"http_port": MLSERVER, "grpc_port": MLSERVER + 1, "metrics_port": MLSERVER + 2}
    (repository / "settings.json").write_text(json.dumps(ports))
    settings = {"name": "mnist", "implementation": "runtime.MnistRuntime",
                "parameters": {"uri": str(MODEL)}}  # fmt: skip
    (repository / "mnist" / "model-settings.json").write_text(json.dumps(settings))
    mlserver = Server(
        "MLServer 1.7.1",
        [str(VENVS / "mlserver/bin/mlserver"), "start", str(repository)],
        MLSERVER, "/v2/models/mnist/ready", env, cwd=repository,
    )  # fmt: skip
    bentoml = Server(
        "BentoML 1.4",
        [str(VENVS / "bentoml/bin/bentoml"), "serve", "service:Mnist", "--port", str(BENTOML)],
        BENTOML, "/readyz", {**env, "MNIST_PEER_MODEL_DIR": str(MODEL)},
        cwd=PEERS_DIR / "bentoml",
    )  # fmt: skip
    return {"kserve": kserve, "mlserver": mlserver, "bentoml": bentoml}


def pairs() -> dict[str, list[Pair]]:
    png = digit_png()
    b64 = base64.b64encode(png).decode()
    pixels = mnist_pixels().reshape(-1).tolist()
    v2_bytes = {"inputs": [{"name": "images", "shape": [1], "datatype": "BYTES", "data": [b64]}]}
    v2_uint8 = {"inputs": [{"name": "images", "shape": [1, 28, 28], "datatype": "UINT8",
                            "data": pixels}]}  # fmt: skip
    infer = "/v2/models/mnist/infer"
    boundary_body = multipart_request("/predict", png)
    return {
        "kserve": [
            Pair(
                "v1 JSON, b64 PNG",
                json_request(
                    "/v1/models/mnist:predict", {"instances": [{"image_bytes": {"b64": b64}}]}
                ),
                json_request("/v1/models/mnist:predict", {"instances": [{"b64": b64}]}),
            ),
        ],
        "mlserver": [
            Pair(
                "v2 JSON, BYTES base64 PNG",
                json_request(infer, v2_bytes),
                json_request(infer, v2_bytes),
            ),
            Pair(
                "v2 JSON, UINT8 tensor",
                json_request(infer, v2_uint8),
                json_request(infer, v2_uint8),
            ),
        ],
        "bentoml": [
            Pair("multipart PNG", multipart_request("/predict", png, field="image"), boundary_body),
        ],
    }


def check_digits(name: str, server: Server, ours_url: str) -> None:
    """The peer must answer our digits (the SavedModel's) for 20 MNIST test images."""
    mismatches = []
    for index in range(20):
        png = digit_png(index)
        files = {"files": ("d.png", png, "image/png")}
        want = httpx.post(f"{ours_url}/predict?normalize=never", files=files, timeout=30)
        expected = want.json()["predictions"][0]["digit"]
        got = _peer_digit(name, server, png)
        if got != expected:
            mismatches.append((index, expected, got))
    if mismatches:
        sys.exit(f"{name} disagrees with the SavedModel on (image, expected, got): {mismatches}")


def _peer_digit(name: str, server: Server, png: bytes) -> int:
    url = f"http://127.0.0.1:{server.port}"
    b64 = base64.b64encode(png).decode()
    body: dict[str, Any]
    if name == "kserve":
        body = {"instances": [{"image_bytes": {"b64": b64}}]}
        answer = httpx.post(f"{url}/v1/models/mnist:predict", json=body, timeout=30).json()
        return int(answer["predictions"][0]["digit"])
    if name == "mlserver":
        body = {"inputs": [{"name": "images", "shape": [1], "datatype": "BYTES", "data": [b64]}]}
        answer = httpx.post(f"{url}/v2/models/mnist/infer", json=body, timeout=30).json()
        return int(next(o for o in answer["outputs"] if o["name"] == "digit")["data"][0])
    answer = httpx.post(f"{url}/predict", files={"image": ("d.png", png)}, timeout=30).json()
    return int(answer["digit"])


def per_round(numerator: list[LoadResult], denominator: list[LoadResult]) -> float:
    """Median over rounds of the two runs' summed requests/s, numerator over denominator."""
    ratios = []
    for i in range(0, len(numerator) - 1, 2):
        top = numerator[i].requests_per_second + numerator[i + 1].requests_per_second
        bottom = denominator[i].requests_per_second + denominator[i + 1].requests_per_second
        if bottom:
            ratios.append(top / bottom)
    return median(ratios)


async def compare(
    pair: Pair, peer_port: int, rounds: int, seconds: float
) -> tuple[list[LoadResult], list[LoadResult], list[LoadResult]]:
    """Rounds of ours (same protocol), ours (native multipart), the peer: A-B-C-C-B-A."""
    native = multipart_request("/predict", digit_png())
    ours: list[LoadResult] = []
    ours_native: list[LoadResult] = []
    peer: list[LoadResult] = []
    order = [(OURS, pair.ours, ours), (OURS, native, ours_native), (peer_port, pair.peer, peer)]
    for round_number in range(rounds + 1):
        for port, request, sink in order + order[::-1]:  # a steady drift cancels out
            result = await run_load(
                port, request, connections=16, seconds=seconds, max_requests=10**6
            )
            if round_number:  # round 0 warms every server up
                sink.append(result)
    return ours, ours_native, peer


def line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def describe(runs: list[LoadResult]) -> list[str]:
    return [
        f"{median([r.requests_per_second for r in runs]):,.0f}",
        f"{median([r.latency_ms(0.5) for r in runs]):.1f}",
        f"{median([r.latency_ms(0.99) for r in runs]):.1f}",
        str(sum(r.errors for r in runs)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=1.0, help="per target, twice a round")
    parser.add_argument(
        "--peers", default=",".join(PEERS), help=f"comma-separated subset of {', '.join(PEERS)}"
    )
    args = parser.parse_args()
    chosen = args.peers.split(",")
    if unknown := set(chosen) - set(PEERS):
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    missing = [name for name in chosen if not (VENVS / name).exists()]
    if missing:
        sys.exit(f"no venv for {', '.join(missing)}: run benchmarks/peers/setup.sh first")
    pin_to_core(1)
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        work = Path(tmp)
        cache = work / "cache"
        # The production command with its defaults, as each peer runs with its own: an access
        # line per request included (MLServer, KServe and BentoML all write one, or several, by
        # default). No drain on SIGTERM, which would only make each stop 5 s longer.
        ours_env = {"MNIST_CACHE_DIR": str(cache), "MNIST_DRAIN_SECONDS": "0"}
        argv = service_argv(OURS)
        ready: dict[str, float] = {}
        cold = Server("ours", argv, OURS, "/health/ready", ours_env)
        cold.start(core=0)
        ready["ours, cold cache"] = cold.wait_ready(timeout=300)
        cold.stop()
        ours = Server("ours", argv, OURS, "/health/ready", ours_env)
        ours.start(core=0)
        ready["ours"] = ours.wait_ready(timeout=300)
        rows: list[list[str]] = []
        checks: dict[str, tuple[str, bool]] = {}
        rss: dict[str, float] = {}
        try:
            for name, peer in peer_servers(work).items():
                if name not in chosen:
                    continue
                peer.start(core=0)
                try:
                    ready[name] = peer.wait_ready(timeout=300)
                    check_digits(name, peer, f"http://127.0.0.1:{OURS}")
                    for pair in pairs()[name]:
                        same, native, theirs = uvloop.run(
                            compare(pair, peer.port, args.rounds, args.seconds)
                        )
                        vs_same, vs_native = per_round(same, theirs), per_round(native, theirs)
                        rows.append([peer.name, pair.label, *describe(theirs),
                                     f"{vs_same:.1f}x", f"{vs_native:.1f}x"])  # fmt: skip
                        rows.append(["ours", pair.label, *describe(same), "", ""])
                        goal = 3.5 if name == "kserve" else 10.0 if name == "mlserver" else 0.0
                        if goal:
                            checks[f"{name}: {pair.label}"] = (f"{vs_same:.1f}x", vs_same >= goal)
                        p99 = median([r.latency_ms(0.99) for r in same])
                        checks[f"ours p99, {pair.label}"] = (f"{p99:.1f} ms", p99 <= 15)
                    rss[name] = peer.tree_rss_mb()
                finally:
                    peer.stop()
            rss["ours"] = ours.tree_rss_mb()
        finally:
            ours.stop()
    report(rows, ready, rss, checks)


def report(
    rows: list[list[str]],
    ready: dict[str, float],
    rss: dict[str, float],
    checks: dict[str, tuple[str, bool]],
) -> None:
    print()
    head = ["server", "request", "req/s", "p50 ms", "p99 ms", "errors", "ours same / it",
            "ours multipart / it"]  # fmt: skip
    print(line(head))
    print(line(["---"] * 2 + ["---:"] * 6))
    for row in rows:
        print(line(row))
    print()
    for name in ready:
        memory = f", RSS {rss[name]:,.0f} MB" if name in rss else ""
        print(f"{name}: start -> ready {ready[name]:.2f} s{memory}")
    checks["ours start -> ready (warm cache) <= 1.5 s"] = (
        f"{ready['ours']:.2f} s",
        ready["ours"] <= 1.5,
    )
    if "kserve" in ready:
        checks["ours cold start <= KServe's start"] = (
            f"{ready['ours, cold cache']:.2f} s vs {ready['kserve']:.2f} s",
            ready["ours, cold cache"] <= ready["kserve"],
        )
    lightest = min(value for name, value in rss.items() if name != "ours")
    checks["ours RSS <= 1/4 of the lightest peer's (of those run)"] = (
        f"{rss['ours']:.0f} MB vs {lightest:.0f} MB",
        rss["ours"] <= lightest / 4,
    )
    print()
    for label, (measured, ok) in checks.items():
        goal = "" if "p99" not in label else " (goal <= 15 ms)"
        print(f"{'PASS' if ok else 'FAIL'}  {label}{goal}: {measured}")
    raise SystemExit(0 if all(ok for _, ok in checks.values()) else 1)


if __name__ == "__main__":
    main()
