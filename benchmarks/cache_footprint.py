"""What a model's weights cost when the CPU cache does not hold them: the compiled model's call
timed back to back (its weights stay in the core's L2 cache) and with a sweep of other memory
between calls (as a server's own work between two requests does).

The gap between the two is what each request over HTTP pays beyond the model's arithmetic; it
grows with the bytes of weights a call reads. It is what made the two-stage CNN (800 KB of dense
weights) cost ~100 µs more per request than the softmax over HTTP against ~30 µs in process.

    .venv/bin/python -m benchmarks.cache_footprint                       # the committed models
    .venv/bin/python -m benchmarks.cache_footprint --model model/mnist-cnn/1 --sweep-mb 0 1 2 4

Run it pinned (``taskset -c 0``) on a quiet machine; the figures are the best of three passes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.inference_latency import architecture

COMMITTED = [Path("model/mnist/1"), Path("model/mnist-mlp/1"), Path("model/mnist-cnn/1")]
LINE = 64  # bytes of one cache line: touching one float per line pulls the whole line in


def time_calls(call: Callable[[], object], calls: int, sweep: np.ndarray[Any, Any] | None) -> float:
    """Mean µs per call of ``call()``, with ``sweep`` (if any) rewritten before each."""
    total = 0
    for _ in range(calls):
        if sweep is not None:
            sweep += 1.0
        started = time.perf_counter_ns()
        call()
        total += time.perf_counter_ns() - started
    return total / calls / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, nargs="+", default=COMMITTED)
    parser.add_argument("--sweep-mb", type=float, nargs="+", default=[0, 4])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()

    import tensorflow as tf

    from app.runtime.compiler import compile_serving_signature
    from app.runtime.litert import CompiledModel

    pixels = np.random.default_rng(0).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    memory = np.ones(int(max(args.sweep_mb) * 2**20) // 8 + 1)
    header = " | ".join(f"{mb:g} MB swept" for mb in args.sweep_mb)
    print(f"| model | architecture | flatbuffer | {header} |")
    print("| --- | --- | ---: |" + " ---: |" * len(args.sweep_mb))
    for path in args.model:
        flatbuffer = compile_serving_signature(tf.saved_model.load(str(path)))
        model = CompiledModel(flatbuffer)
        cells = []
        for mb in args.sweep_mb:
            # One float per cache line of the first `mb` megabytes.
            sweep = memory[:: LINE // 8][: int(mb * 2**20) // LINE] if mb else None
            best = min(
                time_calls(partial(model.predict, pixels), args.calls, sweep) for _ in range(3)
            )
            cells.append(f"{best:.1f} µs")
        kb = len(flatbuffer) / 1024
        print(f"| {path} | {architecture(path)} | {kb:,.0f} KB | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
