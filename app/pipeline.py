"""From uploaded bytes to predictions: decode every image, run one batch through the model.

This is the blocking part of ``POST /predict``; the route runs it in a worker thread so that
decoding and inference never hold up the event loop.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.errors import ApiError
from app.imaging import ImageLimits, Pixels, decode_mnist, encode_png
from app.runtime import ModelRuntime
from app.schemas import ModelRef, Prediction, PredictResponse
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


def predict_uploads(
    runtime: ModelRuntime,
    uploads: Sequence[Upload],
    limits: ImageLimits,
    *,
    return_input: bool = False,
) -> PredictResponse:
    """The response body of ``POST /predict`` for these uploads."""
    inputs = prepare_all(uploads, limits)
    batch = np.stack([item.pixels for item in inputs])
    result = runtime.predict(batch)
    predictions = []
    for upload, item, probabilities, digit in zip(
        uploads, inputs, result.probabilities, result.digits, strict=True
    ):
        predictions.append(
            Prediction(
                filename=upload.filename,
                digit=int(digit),
                confidence=float(probabilities[digit]),
                probabilities=probabilities.tolist(),
                normalized=item.normalized,
                input_image=(
                    base64.b64encode(encode_png(item.pixels)).decode("ascii")
                    if return_input
                    else None
                ),
            )
        )
    return PredictResponse(
        model=ModelRef(name=runtime.name, version=runtime.version), predictions=predictions
    )
