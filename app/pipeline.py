"""From uploaded bytes to predictions: decode every image, run one batch through the model.

These are the blocking parts of ``POST /predict``. Each takes tens of microseconds for a 28x28
image, less than handing it to a thread, so the route runs small uploads on the event loop and
larger ones in a worker thread; model calls may instead go through the micro-batcher.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.errors import ApiError
from app.imaging import ImageLimits, Pixels, decode_mnist, encode_png
from app.runtime import ModelRuntime
from app.uploads import Upload


@dataclass(frozen=True)
class ModelInput:
    """The 28x28 array the model will see for one upload, and how it was obtained."""

    pixels: Pixels
    normalized: bool = False


def prepare(upload: Upload, limits: ImageLimits) -> ModelInput:
    """Decode one upload into the model's input (the strict 28x28 contract)."""
    return ModelInput(pixels=decode_mnist(upload.data, limits))


def prepare_all(uploads: Sequence[Upload], limits: ImageLimits) -> list[ModelInput]:
    """Every upload's model input, in order; an error names the file it concerns."""
    inputs = []
    for index, upload in enumerate(uploads):
        try:
            inputs.append(prepare(upload, limits))
        except ApiError as exc:
            if len(uploads) > 1 or upload.filename is not None:
                exc.about_file(index, upload.filename)
            raise
    return inputs


def stack(inputs: Sequence[ModelInput]) -> Pixels:
    """The model's ``uint8 [N, 28, 28]`` batch for these inputs."""
    return np.stack([item.pixels for item in inputs])


def response_body(
    runtime: ModelRuntime,
    uploads: Sequence[Upload],
    inputs: Sequence[ModelInput],
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
            "input_image": (
                base64.b64encode(encode_png(item.pixels)).decode("ascii") if return_input else None
            ),
        }
        for upload, item, row, digit in zip(uploads, inputs, probabilities, digits, strict=True)
    ]
    return {"model": {"name": runtime.name, "version": runtime.version}, "predictions": predictions}


def predict_uploads(
    runtime: ModelRuntime,
    uploads: Sequence[Upload],
    limits: ImageLimits,
    *,
    return_input: bool = False,
) -> dict[str, Any]:
    """Decode, predict and build the response body of ``POST /predict`` in one blocking call."""
    inputs = prepare_all(uploads, limits)
    probabilities = runtime.probabilities(stack(inputs))
    return response_body(runtime, uploads, inputs, probabilities, return_input=return_input)
