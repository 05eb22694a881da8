"""Explanations: what ``explain=true`` costs against a plain prediction, and the occlusion grid.

Two parts, one run, on the committed models loaded from the compile cache:

1. **Occlusion grids** (MLP and CNN): for each ``patch``/``stride`` the model time per image
   and the map's quality. Quality is a deletion test: blank the 20 inked pixels the map ranks
   highest and measure the drop of the predicted digit's log-odds, against blanking 20 random
   inked pixels (mean of 5 draws); a faithful map makes the first drop much larger. The finest
   grid (1x1, every pixel on its own) is the reference for the Pearson correlation column.
   ``--gradients`` adds gradient x input of the log-odds, run by TensorFlow on the weights of
   the SavedModel: the alternative method, which the TFLite converter cannot compile.
2. **explain=true vs plain** per model: ``POST /models/{name}/predict`` with one 28x28 PNG,
   through the whole app in process (httpx's ASGI transport, no sockets), interleaved.

    .venv/bin/python -m benchmarks.explain_latency              # 40 digits, 200 requests each
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.loadgen import digit_png, mnist_pixels

MODELS = ("mnist", "mnist-mlp", "mnist-cnn")
GRIDS = ((1, 1), (2, 1), (3, 1), (2, 2), (4, 2), (5, 2), (6, 3), (7, 7))
DELETED = 20


def load_servables() -> dict[str, Any]:
    from app.config import Settings
    from app.runtime.cache import CompileCache
    from app.runtime.loader import LoadRequest, ModelLoader

    settings = Settings()
    assert settings.cache_dir is not None, "the benchmark reads the compile cache"
    requests = [LoadRequest(name, 1, settings.model_dir / name / "1") for name in MODELS]
    outcomes = ModelLoader(CompileCache(settings.cache_dir)).load(requests)
    return {outcome.request.name: outcome.servable for outcome in outcomes}


Maps = list[np.ndarray[Any, Any]]


def deletion_scores(
    servable: Any, images: np.ndarray[Any, Any], digits: np.ndarray[Any, Any], maps: Maps,
    reference: Maps, rng: np.random.Generator,
) -> tuple[float, float, float]:  # fmt: skip
    """Mean log-odds drop for the map's top-20 and for 20 random inked pixels; mean r."""
    from app.explain.occlusion import log_odds

    top, rand, corr = [], [], []
    for image, digit, evidence, exact in zip(images, digits, maps, reference, strict=True):
        ink = np.flatnonzero(image.ravel() > 0)
        base = log_odds(servable.probabilities(image[np.newaxis]), digit[np.newaxis])[0]
        order = ink[np.argsort(-evidence.ravel()[ink], kind="stable")][:DELETED]
        draws = [rng.choice(ink, DELETED, replace=False) for _ in range(5)]
        variants = np.repeat(image.ravel()[np.newaxis], 6, axis=0)
        for row, chosen in enumerate([order, *draws]):
            variants[row, chosen] = 0
        scores = log_odds(servable.probabilities(variants.reshape(6, 28, 28)), np.repeat(digit, 6))
        top.append(base - scores[0])
        rand.append(base - scores[1:].mean())
        corr.append(float(np.corrcoef(evidence.ravel()[ink], exact.ravel()[ink])[0, 1]))
    return float(np.mean(top)), float(np.mean(rand)), float(np.mean(corr))


def gradient_maps(name: str, images: np.ndarray[Any, Any]) -> tuple[Maps, float]:
    """Gradient x input of the log-odds, in TensorFlow (it does not compile for LiteRT)."""
    import tensorflow as tf

    from app.runtime.servable import read_metadata
    from training.models import build_model

    architecture = read_metadata(Path("model") / name / "1" / "metadata.json")["architecture"]
    model = build_model(architecture)
    checkpoint = tf.train.Checkpoint(model)
    checkpoint.read(f"model/{name}/1/variables/variables").assert_existing_objects_matched()

    @tf.function  # type: ignore[untyped-decorator]
    def explain(images: tf.Tensor) -> tf.Tensor:
        x = model.inputs(images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = model.logits(x)
            k = tf.argmax(logits, axis=1)
            others = logits + tf.one_hot(k, 10, on_value=-1e9, off_value=0.0)
            odds = tf.gather(logits, k, batch_dims=1) - tf.reduce_logsumexp(others, axis=1)
        return tape.gradient(odds, x) * x

    explain(tf.constant(images[:1]))
    maps, seconds = [], []
    for image in images:
        start = time.perf_counter()
        maps.append(explain(tf.constant(image[np.newaxis])).numpy()[0])
        seconds.append(time.perf_counter() - start)
    return maps, float(np.median(seconds))


def grid_sweep(servable: Any, images: np.ndarray[Any, np.dtype[np.uint8]], gradients: bool) -> None:
    from app.explain.occlusion import OcclusionGrid, occlusion_evidence

    rng = np.random.default_rng(0)
    digits = servable.probabilities(images).argmax(axis=1)
    reference: Maps = []
    print(f"\n{servable.name}: {len(images)} MNIST test digits, one model call per image\n")
    print("| patch | stride | copies/image | ms/image | top-20 drop | random-20 drop | r vs 1x1 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for patch, stride in GRIDS:
        grid = OcclusionGrid(patch, stride)
        maps, seconds, copies = [], [], []
        for image, digit in zip(images, digits, strict=True):
            batch, label = image[np.newaxis], digit[np.newaxis]
            start = time.perf_counter()
            evidence, _ = occlusion_evidence(servable.probabilities, batch, label, grid)
            seconds.append(time.perf_counter() - start)
            maps.append(evidence[0])
            copies.append(int(((grid.masks & (image > 0)).any(axis=(1, 2))).sum()))
        if not reference:
            reference = maps
        top, rand, corr = deletion_scores(servable, images, digits, maps, reference, rng)
        print(
            f"| {patch} | {stride} | {np.mean(copies):.0f} | {np.median(seconds) * 1e3:.2f}"
            f" | {top:.2f} | {rand:.2f} | {corr:.2f} |"
        )
    if gradients:
        maps, median = gradient_maps(servable.name, images)
        top, rand, corr = deletion_scores(servable, images, digits, maps, reference, rng)
        print(
            f"| gradient x input | (TensorFlow) | - | {median * 1e3:.2f}"
            f" | {top:.2f} | {rand:.2f} | {corr:.2f} |"
        )


async def http_latency(requests: int) -> None:
    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings(poll_seconds=0, log_level="warning"))
    png = digit_png()
    files = {"files": ("digit.png", png, "image/png")}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            print(f"\nPOST /models/{{name}}/predict, one 28x28 PNG, {requests} requests each\n")
            print("| model | method | plain ms | explain ms | ratio | explain p99 ms |")
            print("|---|---|---:|---:|---:|---:|")
            for name in MODELS:
                timings: dict[str, list[float]] = {"": [], "?explain=true": []}
                method = ""
                for index in range(requests + 10):
                    for query, samples in timings.items():
                        start = time.perf_counter()
                        response = await client.post(f"/models/{name}/predict{query}", files=files)
                        elapsed = time.perf_counter() - start
                        response.raise_for_status()
                        if index >= 10:  # the first calls allocate the interpreters' buckets
                            samples.append(elapsed)
                        if query:
                            method = response.json()["predictions"][0]["explanation"]["method"]
                plain = float(np.median(timings[""])) * 1e3
                explained = float(np.median(timings["?explain=true"])) * 1e3
                p99 = float(np.quantile(timings["?explain=true"], 0.99)) * 1e3
                print(
                    f"| {name} | {method} | {plain:.2f} | {explained:.2f}"
                    f" | {explained / plain:.1f}x | {p99:.2f} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=40, help="MNIST test digits for the grids")
    parser.add_argument("--requests", type=int, default=200, help="requests per model and mode")
    parser.add_argument("--skip-grids", action="store_true", help="only explain=true vs plain")
    parser.add_argument(
        "--gradients",
        action="store_true",
        help="also gradient x input in TensorFlow, for comparison (it cannot be served)",
    )
    args = parser.parse_args()
    if not args.skip_grids:
        servables = load_servables()
        images = np.concatenate([mnist_pixels(index) for index in range(args.digits)])
        for name in ("mnist-mlp", "mnist-cnn"):
            grid_sweep(servables[name], images, args.gradients)
    asyncio.run(http_latency(args.requests))


if __name__ == "__main__":
    main()
