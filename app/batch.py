"""A request's uploads as one batch of model input, and the model's output as its response body.

The synchronous half of the data plane (:mod:`app.dataplane` schedules it): read every image's
header, decode and normalise the images, stack them into one ``uint8 [N, 28, 28]`` batch, and turn
the model's probabilities back into the prediction records every protocol answers with. Errors
name the file they came from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from app.contract import IMAGE_SIZE, Pixels
from app.errors import ApiError
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
from app.runtime.servable import Servable


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
