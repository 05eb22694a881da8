"""From uploaded bytes to predictions: decode every image, run one batch through the model.

This is the blocking part of ``POST /predict``; the route runs it in a worker thread so that
decoding and inference never hold up the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.errors import ApiError
from app.imaging import ImageLimits, decode
from app.preprocessing import NormalizeMode, Prepared, encode_png_base64
from app.runtime import ModelRuntime
from app.schemas import ModelRef, Prediction, PredictResponse
from app.uploads import Upload


def prepare_all(
    uploads: Sequence[Upload], limits: ImageLimits, mode: NormalizeMode
) -> list[Prepared]:
    """Every upload's model input, in order; an error names the file it concerns."""
    inputs = []
    for index, upload in enumerate(uploads):
        try:
            inputs.append(decode(upload.data, limits, mode))
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
    mode: NormalizeMode = NormalizeMode.AUTO,
    return_input: bool = False,
) -> PredictResponse:
    """The response body of ``POST /predict`` for these uploads."""
    inputs = prepare_all(uploads, limits, mode)
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
                input_image=encode_png_base64(item.pixels) if return_input else None,
            )
        )
    return PredictResponse(
        model=ModelRef(name=runtime.name, version=runtime.version), predictions=predictions
    )
