"""HTTP load benchmark: our /health/live and /predict (multipart and raw) against the naive app,
the standard protocols (Open Inference Protocol v2 binary and JSON, TF Serving REST JSON), and
each committed model (softmax, MLP, CNN) through its own ``/models/{name}/predict``.

A second instance of our server with micro-batching switched on shows what batching brings.
The servers run as subprocesses pinned to core 0 and this load generator to core 1. The CPU
speed of a shared VM drifts from second to second, so the targets are measured in short rounds,
one after another, and the figures are medians over rounds; ratios are taken within each round.

    .venv/bin/python -m benchmarks.http_load            # 16 connections, 7 rounds of 2 s each
"""

from __future__ import annotations

import argparse
import os

import uvloop

from benchmarks.loadgen import (
    LoadResult,
    Server,
    digit_png,
    get_request,
    json_request,
    median,
    mnist_pixels,
    multipart_request,
    pin_to_core,
    raw_image_request,
    run_load,
    service_argv,
    uvicorn_argv,
    v2_binary_request,
)

OUR_PORT, NAIVE_PORT, BATCHED_PORT = 18301, 18302, 18303
MODELS = ("mnist", "mnist-mlp", "mnist-cnn")  # the committed models, all served by "ours"
GOALS = {  # name -> (description, check)
    "predict_vs_health": "our /predict (multipart) >= 0.6x our /health/live requests/s",
    "predict_vs_naive": "our /predict (multipart) >= 3x the naive /predict requests/s",
    "p99": "our /predict p99 <= 25 ms",
    "v2_binary": "v2 binary infer, one image >= 0.9x our raw-body /predict requests/s",
    "cnn_vs_softmax": "/models/mnist-cnn/predict >= 0.8x /models/mnist/predict requests/s",
    "errors": "zero errors",
}


def servers() -> list[Server]:
    ours = Server(
        "ours",
        service_argv(OUR_PORT),
        OUR_PORT,
        "/health/ready",
    )
    batched = Server(
        "ours, batching on",
        service_argv(BATCHED_PORT),
        BATCHED_PORT,
        "/health/ready",
        env={"MNIST_BATCHING_ENABLED": "true"},
    )
    naive = Server(
        "naive",
        uvicorn_argv("benchmarks.naive_app:app", NAIVE_PORT),
        NAIVE_PORT,
        "/health/live",
        env={"MNIST_MODEL_PATH": os.environ.get("MNIST_MODEL_PATH", "model/mnist/1")},
    )
    return [ours, batched, naive]


async def measure(rounds: int, seconds: float, connections: int) -> dict[str, list[LoadResult]]:
    png = digit_png()
    pixels = mnist_pixels()
    v2_json = {
        "inputs": [
            {"name": "images", "shape": [1, 28, 28], "datatype": "UINT8",
             "data": pixels.reshape(-1).tolist()}
        ]
    }  # fmt: skip
    tfserving = {"instances": (pixels.reshape(1, 784) / 255.0).tolist()}
    targets = {
        "ours GET /health/live": (OUR_PORT, get_request("/health/live")),
        "ours POST /predict multipart": (OUR_PORT, multipart_request("/predict", png)),
        "ours POST /predict raw body": (OUR_PORT, raw_image_request("/predict", png)),
        "ours, batching on, multipart": (BATCHED_PORT, multipart_request("/predict", png)),
        "naive POST /predict multipart": (NAIVE_PORT, multipart_request("/predict", png)),
        "ours v2 infer, binary": (OUR_PORT, v2_binary_request("/v2/models/mnist/infer", pixels)),
        "ours v2 infer, JSON": (OUR_PORT, json_request("/v2/models/mnist/infer", v2_json)),
        "ours TF Serving :predict, JSON": (
            OUR_PORT,
            json_request("/v1/models/mnist:predict", tfserving),
        ),
    }
    for model in MODELS:
        request = multipart_request(f"/models/{model}/predict", png)
        targets[f"ours /models/{model}/predict"] = (OUR_PORT, request)
    results: dict[str, list[LoadResult]] = {name: [] for name in targets}
    for round_number in range(rounds + 1):
        for name, (port, request) in targets.items():
            result = await run_load(
                port, request, connections=connections, seconds=seconds, max_requests=200_000
            )
            if round_number > 0:  # round 0 warms up both servers and the client
                results[name].append(result)
    return results


def report(results: dict[str, list[LoadResult]], connections: int) -> bool:
    """Print the table and the goals; True if every goal is met."""
    print(f"\n{connections} connections, {len(next(iter(results.values())))} rounds (medians)\n")
    print(f"| {'target':<30} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'errors':>6} |")
    print(f"|{'-' * 32}|{'-' * 9}:|{'-' * 8}:|{'-' * 8}:|{'-' * 7}:|")
    for name, runs in results.items():
        rps = median([r.requests_per_second for r in runs])
        p50 = median([r.latency_ms(0.5) for r in runs])
        p99 = median([r.latency_ms(0.99) for r in runs])
        errors = sum(r.errors for r in runs)
        print(f"| {name:<30} | {rps:>8.0f} | {p50:>7.2f} | {p99:>7.2f} | {errors:>6} |")

    def per_round_ratio(numerator: str, denominator: str) -> float:
        return median(
            [
                a.requests_per_second / b.requests_per_second
                for a, b in zip(results[numerator], results[denominator], strict=True)
                if b.requests_per_second
            ]
        )

    vs_health = per_round_ratio("ours POST /predict multipart", "ours GET /health/live")
    raw_vs_health = per_round_ratio("ours POST /predict raw body", "ours GET /health/live")
    vs_naive = per_round_ratio("ours POST /predict multipart", "naive POST /predict multipart")
    batching = per_round_ratio("ours, batching on, multipart", "ours POST /predict multipart")
    v2_binary = per_round_ratio("ours v2 infer, binary", "ours POST /predict raw body")
    v2_json = per_round_ratio("ours v2 infer, JSON", "ours POST /predict raw body")
    tfserving = per_round_ratio("ours TF Serving :predict, JSON", "ours POST /predict raw body")
    cnn = per_round_ratio("ours /models/mnist-cnn/predict", "ours /models/mnist/predict")
    mlp = per_round_ratio("ours /models/mnist-mlp/predict", "ours /models/mnist/predict")
    p99 = max(
        median([r.latency_ms(0.99) for r in results[name]])
        for name in ("ours POST /predict multipart", "ours POST /predict raw body")
    )
    errors = sum(r.errors for runs in results.values() for r in runs)
    checks = {
        "predict_vs_health": (
            f"{vs_health:.2f}x (raw body {raw_vs_health:.2f}x)",
            vs_health >= 0.6,
        ),
        "predict_vs_naive": (f"{vs_naive:.1f}x", vs_naive >= 3),
        "p99": (f"{p99:.1f} ms", p99 <= 25),
        "errors": (str(errors), errors == 0),
        "v2_binary": (f"{v2_binary:.2f}x", v2_binary >= 0.9),
        "cnn_vs_softmax": (f"{cnn:.2f}x (MLP {mlp:.2f}x)", cnn >= 0.8),
    }
    print(f"\nmicro-batching on vs off (multipart requests/s): {batching:.2f}x")
    print(f"against raw-body /predict: v2 JSON {v2_json:.2f}x, TF Serving JSON {tfserving:.2f}x")
    for key, (measured, ok) in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {GOALS[key]}: {measured}")
    return all(ok for _, ok in checks.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=2.0, help="per target and round")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    started = servers()
    try:
        for server in started:
            server.start(core=0)
        for server in started:
            server.wait_ready()
        pin_to_core(1)
        results = uvloop.run(measure(args.rounds, args.seconds, args.connections))
    finally:
        for server in started:
            server.stop()
    raise SystemExit(0 if report(results, args.connections) else 1)


if __name__ == "__main__":
    main()
