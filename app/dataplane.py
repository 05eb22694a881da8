"""The data plane: the one internal call every protocol makes, from encoded images to predictions.

:func:`infer` takes a version leased from the registry (the protocol holds the lease for the
whole request, so a swap never pulls a model out from under it) and the uploaded files, decodes
and normalises the images, runs one batch through the model (directly or through the version's
micro-batcher) and builds the response body, naming the version that computed it. A strict 28x28
image takes tens of microseconds, less than handing it to a thread, so a few small 28x28 uploads
that need no normalising are decoded on the event loop (once: :func:`quick_inputs` keeps what it
decoded to find that out) and everything else (normalisation, larger pictures) in a worker
thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread

from app.batch import (
    InferOptions,
    Upload,
    decoding_cost,
    predict_uploads,
    prepare_all,
    quick_inputs,
    read_headers,
    response_body,
    stack,
)
from app.contract import Pixels, Probabilities
from app.explain.explainer import check_explainable, explanations
from app.images.decoding import ImageLimits, Opened
from app.images.normalize import Prepared
from app.observability.metrics import Metrics
from app.repository.registry import ServedVersion
from app.traffic.admission import ByteBudget

T = TypeVar("T")


async def infer(
    served: ServedVersion,
    metrics: Metrics,
    uploads: Sequence[Upload],
    limits: ImageLimits,
    options: InferOptions,
    budget: ByteBudget | None = None,
) -> dict[str, Any]:
    """Predict every upload with a version leased from the registry (the caller releases it).

    Decoding in a thread first takes its estimated memory from ``budget`` (waiting for room).
    """
    servable = served.servable
    assert servable is not None, "only available versions are leased"
    if options.explain:
        return await _infer_explained(served, metrics, uploads, limits, options, budget)
    # Headers only (sizes, limits): cheap, and they decide where decoding runs.
    images = read_headers(uploads, limits)
    mode, return_input = options.normalize, options.return_input
    inputs = quick_inputs(uploads, images, mode, options.inline_max_bytes)
    if inputs is None and served.batcher is None:
        # Decoding, the model call and the response all in one thread trip.
        work = partial(
            predict_uploads,
            servable,
            uploads,
            images,
            mode=mode,
            return_input=return_input,
            min_confidence=options.min_confidence,
        )
        body = await _in_thread(work, images, budget)
    else:
        if inputs is None:
            work_inputs = partial(prepare_all, uploads, images, mode)
            inputs = await _in_thread(work_inputs, images, budget)
        if served.batcher is None:
            probabilities = servable.probabilities(stack(inputs))
        else:
            probabilities = await served.batcher.predict(stack(inputs))
        body = response_body(
            servable,
            uploads,
            inputs,
            probabilities,
            return_input=return_input,
            min_confidence=options.min_confidence,
        )
    _record(served, metrics, len(uploads), _answered(body))
    return body


async def _infer_explained(
    served: ServedVersion,
    metrics: Metrics,
    uploads: Sequence[Upload],
    limits: ImageLimits,
    options: InferOptions,
    budget: ByteBudget | None,
) -> dict[str, Any]:
    """:func:`infer`'s body, each prediction with its ``explanation``."""
    servable = served.servable
    assert servable is not None, "only available versions are leased"
    check_explainable(servable)  # before any work: a 422 costs nothing
    inputs, probabilities = await _decode_and_run(served, uploads, limits, options, budget)
    # Off the micro-batcher: occlusion's hundreds of copies would hold up other requests' images.
    work = partial(explanations, servable, stack(inputs), probabilities)
    found = await anyio.to_thread.run_sync(work)
    body = response_body(
        servable,
        uploads,
        inputs,
        probabilities,
        return_input=options.return_input,
        min_confidence=options.min_confidence,
    )
    for prediction, explanation in zip(body["predictions"], found, strict=True):
        prediction["explanation"] = explanation
    _record(served, metrics, len(uploads), _answered(body))
    return body


async def infer_pixels(served: ServedVersion, metrics: Metrics, pixels: Pixels) -> Probabilities:
    """Probabilities for images already in the model's form, ``uint8 [N, 28, 28]``."""
    probabilities = await _run_model(served, pixels)
    _record(served, metrics, len(pixels), probabilities.argmax(axis=1).tolist())
    return probabilities


async def infer_files(
    served: ServedVersion,
    metrics: Metrics,
    uploads: Sequence[Upload],
    limits: ImageLimits,
    options: InferOptions,
    budget: ByteBudget | None = None,
) -> tuple[list[Prepared], Probabilities]:
    """Decode and normalise encoded images as :func:`infer` does; their inputs and probabilities."""
    inputs, probabilities = await _decode_and_run(served, uploads, limits, options, budget)
    _record(served, metrics, len(inputs), probabilities.argmax(axis=1).tolist())
    return inputs, probabilities


async def _decode_and_run(
    served: ServedVersion,
    uploads: Sequence[Upload],
    limits: ImageLimits,
    options: InferOptions,
    budget: ByteBudget | None,
) -> tuple[list[Prepared], Probabilities]:
    images = read_headers(uploads, limits)
    inputs = quick_inputs(uploads, images, options.normalize, options.inline_max_bytes)
    if inputs is None:
        work = partial(prepare_all, uploads, images, options.normalize)
        inputs = await _in_thread(work, images, budget)
    return inputs, await _run_model(served, stack(inputs))


async def _in_thread(
    work: Callable[[], T], images: Sequence[Opened], budget: ByteBudget | None
) -> T:
    """``work()`` in a worker thread, holding the memory its decoding needs from ``budget``."""
    if budget is None:
        return await anyio.to_thread.run_sync(work)
    taken = await budget.take(decoding_cost(images))
    try:
        return await anyio.to_thread.run_sync(work, limiter=budget.limiter)
    finally:
        budget.give(taken)


async def _run_model(served: ServedVersion, pixels: Pixels) -> Probabilities:
    servable = served.servable
    assert servable is not None, "only available versions are leased"
    if served.batcher is None:
        return servable.probabilities(pixels)  # ~5 µs an image: less than a thread hand-off
    return await served.batcher.predict(pixels)


def _answered(body: dict[str, Any]) -> list[int]:
    """The digits a response body gives (not the ones withheld by min_confidence)."""
    return [p["digit"] for p in body["predictions"] if p["digit"] is not None]


def _record(served: ServedVersion, metrics: Metrics, images: int, digits: list[int]) -> None:
    if served.batcher is None:
        metrics.observe_batch(images)  # the batcher reports the batches it makes
    metrics.count_model_request(served.model, served.version)
    metrics.count_predictions(digits)
