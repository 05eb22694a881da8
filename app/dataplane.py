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
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
import numpy as np
import numpy.typing as npt
from PIL import Image

from app.contract import IMAGE_SIZE, Pixels, Probabilities
from app.errors import ApiError
from app.explain.explainer import check_explainable, explanations
from app.images.decoding import (
    ImageLimits,
    Opened,
    decode_cost,
    pixels_as_sent,
    prepare_image,
    read_header,
)
from app.images.normalize import (
    NormalizeMode,
    Prepared,
    encode_png_base64,
    looks_like_mnist,
)
from app.observability.metrics import Metrics
from app.repository.registry import ServedVersion
from app.runtime.servable import Servable
from app.traffic.admission import ByteBudget


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded image: its bytes and, for a multipart part, its file name."""

    data: bytes
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class InferOptions:
    """How to treat the images of one request."""

    normalize: NormalizeMode = NormalizeMode.AUTO
    return_input: bool = False
    inline_max_bytes: int = 4096
    min_confidence: float | None = None  # below it, "digit": null, "reason": "low_confidence"
    explain: bool = False  # each prediction with the evidence for its digit (app.explain)


T = TypeVar("T")


def _each_file(uploads: Sequence[Upload], step: Callable[[int], T]) -> list[T]:
    """``step(index)`` for every upload, in order; an error names the file it concerns."""
    results = []
    for index, upload in enumerate(uploads):
        try:
            results.append(step(index))
        except ApiError as exc:
            if len(uploads) > 1 or upload.filename is not None:
                exc.about_file(index, upload.filename)
            raise
    return results


def read_headers(uploads: Sequence[Upload], limits: ImageLimits) -> list[Opened]:
    """Every upload's image, header parsed and size checked, nothing decoded yet."""
    return _each_file(uploads, lambda index: read_header(uploads[index].data, limits))


def prepare_all(
    uploads: Sequence[Upload], images: Sequence[Opened], mode: NormalizeMode
) -> list[Prepared]:
    """Every upload's model input, in order, from the images :func:`read_headers` returned.

    Each decoded picture is let go as soon as its input is made, so a request of many large
    images holds one at a time, as :func:`decode_cost` assumes.
    """

    def prepare_one(index: int) -> Prepared:
        image = images[index]
        try:
            return prepare_image(image, mode)
        finally:
            if isinstance(image, Image.Image):
                image.close()

    return _each_file(uploads, prepare_one)


def decoding_cost(images: Sequence[Opened]) -> int:
    """Memory the decoding of these images needs at its peak: they are decoded one by one."""
    return max((decode_cost(image) for image in images), default=0)


def quick_inputs(
    uploads: Sequence[Upload], images: Sequence[Opened], mode: NormalizeMode, max_bytes: int
) -> list[Prepared] | None:
    """The model inputs, decoded here, when that is cheap enough for the event loop; else None.

    Cheap means a few small 28x28 files that pass through as sent. The header decides the size,
    not the byte count alone: a few hundred bytes of PNG can hold a 4096x4096 canvas whose
    normalisation takes far longer than a thread hand-off. With ``normalize=auto`` only the
    pixels tell whether a 28x28 image passes through (it looks like MNIST) or is normalised
    (~1 ms, e.g. an inverted digit), so the files are decoded to look, ~20 µs for a PNG digit,
    and the decoded inputs are what the request then uses.
    """
    if mode is NormalizeMode.ALWAYS or sum(len(upload.data) for upload in uploads) > max_bytes:
        return None
    if not all(image.size == (IMAGE_SIZE, IMAGE_SIZE) for image in images):
        return None
    if mode is NormalizeMode.NEVER:
        return prepare_all(uploads, images, mode)  # the strict contract: its errors are final
    inputs = []
    for image in images:
        try:
            pixels = pixels_as_sent(image)
        except ApiError:
            # Refused as sent, yet normalising may still find ink (say, black strokes on a
            # transparent canvas, which the strict contract composites on black).
            return None
        if not looks_like_mnist(pixels):
            return None
        # What normalize=auto gives a 28x28 image that looks like MNIST (which has ink).
        inputs.append(Prepared(pixels=pixels, normalized=False))
    return inputs


def stack(inputs: Sequence[Prepared]) -> Pixels:
    """The model's ``uint8 [N, 28, 28]`` batch for these inputs."""
    if len(inputs) == 1:
        return inputs[0].pixels[np.newaxis]  # a view: most requests carry one image
    return np.stack([item.pixels for item in inputs])


def response_body(
    servable: Servable,
    uploads: Sequence[Upload],
    inputs: Sequence[Prepared],
    probabilities: npt.NDArray[np.float32],
    *,
    return_input: bool = False,
    min_confidence: float | None = None,
) -> dict[str, Any]:
    """The ``POST /predict`` response (shaped like :class:`PredictResponse`) as plain data.

    Built as dicts for orjson rather than as pydantic models: validating and serialising the
    models cost more than the whole model call.
    """
    digits = probabilities.argmax(axis=1)
    predictions = []
    for upload, item, row, digit in zip(uploads, inputs, probabilities, digits, strict=True):
        confidence = float(row[digit])
        unsure = min_confidence is not None and confidence < min_confidence
        predictions.append(
            {
                "filename": upload.filename,
                "digit": None if unsure else int(digit),
                "confidence": confidence,
                "probabilities": row.tolist(),
                "normalized": item.normalized,
                "input_image": encode_png_base64(item.pixels) if return_input else None,
                "reason": "low_confidence" if unsure else None,
            }
        )
    model = {"name": servable.name, "version": servable.version}
    return {"model": model, "predictions": predictions}


def predict_uploads(
    servable: Servable,
    uploads: Sequence[Upload],
    images: Sequence[Opened],
    *,
    mode: NormalizeMode = NormalizeMode.AUTO,
    return_input: bool = False,
    min_confidence: float | None = None,
) -> dict[str, Any]:
    """Decode, predict and build the response body of ``POST /predict`` in one blocking call."""
    inputs = prepare_all(uploads, images, mode)
    probabilities = servable.probabilities(stack(inputs))
    return response_body(
        servable,
        uploads,
        inputs,
        probabilities,
        return_input=return_input,
        min_confidence=min_confidence,
    )


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
