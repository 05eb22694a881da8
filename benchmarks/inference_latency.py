"""In-process latency: the bytes of one 28x28 PNG -> probabilities, ours against the naive path.

"naive" decodes with Pillow and calls the SavedModel's ``serving_default`` signature through
TensorFlow, as benchmarks/naive_app.py does. "ours" is the service's own path: its image decoder
and the runtime's compiled (TFLite via LiteRT) model. The stages are timed on their own too.
Paths are timed in interleaved slices so that CPU-speed drift hits them all alike. Each model
given is timed in turn; the goal depends on its architecture (metadata.json): softmax
<= 100 µs, CNN <= 150 µs median, the MLP has none.

    .venv/bin/python -m benchmarks.inference_latency                      # model/mnist/1
    .venv/bin/python -m benchmarks.inference_latency --model model/mnist/1 model/mnist-cnn/1
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.loadgen import digit_png

GOALS_US = {"softmax": 100.0, "cnn": 150.0}


def time_paths(
    paths: dict[str, Callable[[], object]], iterations: int, slices: int = 20
) -> dict[str, list[float]]:
    """Run each path ``iterations`` times, interleaved in ``slices``; per-call seconds."""
    timings: dict[str, list[float]] = {name: [] for name in paths}
    for path in paths.values():  # warm-up: first-call allocations, lazy initialisation
        for _ in range(20):
            path()
    per_slice = max(1, iterations // slices)
    clock = time.perf_counter
    for _ in range(slices):
        for name, path in paths.items():
            samples = timings[name]
            for _ in range(per_slice):
                start = clock()
                path()
                samples.append(clock() - start)
    return timings


def build_paths(model_path: Path, png: bytes) -> dict[str, Callable[[], object]]:
    import tensorflow as tf

    from app.images.decoding import ImageLimits, prepare_image, read_header
    from app.images.normalize import NormalizeMode, Prepared
    from app.runtime.compiler import compile_serving_signature
    from app.runtime.litert import CompiledModel

    loaded = tf.saved_model.load(str(model_path))
    signature = loaded.signatures["serving_default"]
    compiled = CompiledModel(compile_serving_signature(loaded))

    def pillow_decode() -> np.ndarray[Any, np.dtype[np.uint8]]:
        return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.uint8)

    pixels = pillow_decode()[np.newaxis]
    tensor = tf.constant(pixels)

    def naive() -> object:
        return signature(images=tf.constant(pillow_decode()[np.newaxis]))["probabilities"].numpy()

    limits = ImageLimits(max_side=4096, max_pixels=4096 * 4096)

    def decode() -> Prepared:
        return prepare_image(read_header(png, limits), NormalizeMode.AUTO)

    def ours() -> object:
        # The service's own steps: its checked decoder, then the compiled model.
        return compiled.predict(decode().pixels[np.newaxis])

    return {
        "naive: PNG -> probabilities": naive,
        "ours: PNG -> probabilities": ours,
        "stage: Pillow decode (naive)": pillow_decode,
        "stage: header + prepare_image (auto)": decode,
        "stage: TF signature, pre-shaped tensor": lambda: signature(images=tensor),
        "stage: compiled model (LiteRT)": lambda: compiled.predict(pixels),
    }


def architecture(model_path: Path) -> str:
    """The architecture metadata.json names (softmax for models trained before it did)."""
    try:
        metadata = json.loads((model_path / "metadata.json").read_text())
    except FileNotFoundError:
        return "unknown"
    return str(metadata.get("architecture", "softmax"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=4000)
    parser.add_argument(
        "--model",
        type=Path,
        nargs="+",
        default=[Path(os.environ.get("MNIST_MODEL_PATH", "model/mnist/1"))],
        help="version directories to time, one after another",
    )
    args = parser.parse_args()
    verdicts = [report(model, args.iterations) for model in args.model]
    raise SystemExit(0 if all(verdicts) else 1)


def report(model: Path, iterations: int) -> bool:
    """Time one model's paths, print the table; ``False`` if its goal is missed."""
    kind = architecture(model)
    timings = time_paths(build_paths(model, digit_png()), iterations)
    print(f"\n{model} ({kind}): {iterations} calls each, one 28x28 PNG per call\n")
    print(f"| {'path':<40} | {'median µs':>9} | {'p99 µs':>8} |")
    print(f"|{'-' * 42}|{'-' * 10}:|{'-' * 9}:|")
    medians = {}
    for name, samples in timings.items():
        medians[name] = float(np.median(samples)) * 1e6
        p99 = float(np.quantile(samples, 0.99)) * 1e6
        print(f"| {name:<40} | {medians[name]:>9.1f} | {p99:>8.1f} |")
    ours = medians["ours: PNG -> probabilities"]
    speedup = medians["naive: PNG -> probabilities"] / ours
    print(f"\nours is {speedup:.1f}x faster than naive (median)")
    goal = GOALS_US.get(kind)
    if goal is None:
        print(f"median PNG -> probabilities {ours:.1f} µs (no goal for {kind})")
        return True
    ok = ours <= goal
    verdict = "PASS" if ok else "FAIL"
    print(f"{verdict}  median PNG -> probabilities {ours:.1f} µs (goal <= {goal:g} µs)")
    return ok


if __name__ == "__main__":
    main()
