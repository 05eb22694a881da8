"""From uploaded bytes to predictions: decode every image, run one batch through the model.

These are the blocking parts of ``POST /predict``. A strict 28x28 image takes tens of
microseconds, less than handing it to a thread, so the route runs small 28x28 uploads that need
no normalising on the event loop and everything else (normalisation, larger pictures) in a
worker thread; model calls may instead go through the micro-batcher.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from app.errors import ApiError
from app.images.decoding import ImageLimits, Opened, prepare_image, read_header
from app.images.normalize import (
    MNIST_SIZE,
    NormalizeMode,
    Pixels,
    Prepared,
    encode_png_base64,
    looks_like_mnist,
)
from app.protocols.native.uploads import Upload
from app.runtime.servable import ModelRuntime

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
    """Every upload's model input, in order, from the images :func:`read_headers` returned."""
    return _each_file(uploads, lambda index: prepare_image(images[index], mode))


def is_quick(
    uploads: Sequence[Upload], images: Sequence[Opened], mode: NormalizeMode, max_bytes: int
) -> bool:
    """Whether decoding is cheap enough for the event loop: a few small 28x28 files, as sent.

    The header decides the size, not the byte count alone: a few hundred bytes of PNG can hold a
    4096x4096 canvas whose normalisation takes far longer than a thread hand-off. With
    ``normalize=auto`` only the pixels tell whether a 28x28 image passes through as sent (it
    looks like MNIST) or is normalised (~1 ms, e.g. an inverted digit), so those few small files
    are decoded here to look: ~20 µs for a PNG digit, repeated when the request runs inline.
    """
    if mode is NormalizeMode.ALWAYS or sum(len(upload.data) for upload in uploads) > max_bytes:
        return False
    if not all(image.size == (MNIST_SIZE, MNIST_SIZE) for image in images):
        return False
    return mode is NormalizeMode.NEVER or all(_passes_through(image) for image in images)


def _passes_through(image: Opened) -> bool:
    """Whether ``normalize=auto`` leaves this 28x28 image as sent."""
    try:
        strict = prepare_image(image, NormalizeMode.NEVER).pixels
    except ApiError:
        # Seen as sent it is refused, yet normalising may still find ink (say, black strokes on
        # a transparent canvas, which the strict contract composites on black).
        return False
    return looks_like_mnist(strict)


def stack(inputs: Sequence[Prepared]) -> Pixels:
    """The model's ``uint8 [N, 28, 28]`` batch for these inputs."""
    if len(inputs) == 1:
        return inputs[0].pixels[np.newaxis]  # a view: most requests carry one image
    return np.stack([item.pixels for item in inputs])


def response_body(
    runtime: ModelRuntime,
    uploads: Sequence[Upload],
    inputs: Sequence[Prepared],
    probabilities: npt.NDArray[np.float32],
    *,
    return_input: bool = False,
) -> dict[str, Any]:
    """The ``POST /predict`` response (shaped like :class:`PredictResponse`) as plain data.

    Built as dicts for orjson rather than as pydantic models: validating and serialising the
    models cost more than the whole model call.
    """
    digits = probabilities.argmax(axis=1)
    predictions = [
        {
            "filename": upload.filename,
            "digit": int(digit),
            "confidence": float(row[digit]),
            "probabilities": row.tolist(),
            "normalized": item.normalized,
            "input_image": encode_png_base64(item.pixels) if return_input else None,
        }
        for upload, item, row, digit in zip(uploads, inputs, probabilities, digits, strict=True)
    ]
    return {"model": {"name": runtime.name, "version": runtime.version}, "predictions": predictions}


def predict_uploads(
    runtime: ModelRuntime,
    uploads: Sequence[Upload],
    images: Sequence[Opened],
    *,
    mode: NormalizeMode = NormalizeMode.AUTO,
    return_input: bool = False,
) -> dict[str, Any]:
    """Decode, predict and build the response body of ``POST /predict`` in one blocking call."""
    inputs = prepare_all(uploads, images, mode)
    probabilities = runtime.probabilities(stack(inputs))
    return response_body(runtime, uploads, inputs, probabilities, return_input=return_input)
