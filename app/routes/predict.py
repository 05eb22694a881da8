"""``POST /predict``: images in, digits and probabilities out."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Query, Request, Response

from app import errors
from app.batching import MicroBatcher
from app.dependencies import RuntimeDep, SettingsDep
from app.error_docs import error_responses
from app.imaging import ImageLimits
from app.metrics import Metrics
from app.pipeline import (
    is_quick,
    predict_uploads,
    prepare_all,
    read_headers,
    response_body,
    stack,
)
from app.preprocessing import NormalizeMode
from app.schemas import PredictResponse
from app.uploads import FILES_FIELD, UploadLimits, read_uploads

router = APIRouter(prefix="/predict", tags=["predict"])

# The body is parsed by app.uploads (streaming, with limits), so it is described here by hand.
_BINARY = {"type": "string", "format": "binary"}
_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "Digit images: PNG, JPEG, BMP, GIF (first frame), TIFF or WebP; greyscale, colour or"
            " with alpha. With `normalize=never` they must be 28x28 in MNIST polarity (light digit"
            " on dark ground); otherwise any size up to the configured limit and either polarity."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILES_FIELD],
                    "properties": {
                        FILES_FIELD: {
                            "type": "array",
                            "items": _BINARY,
                            "description": "One or more images, predicted in this order.",
                        }
                    },
                }
            },
            "image/*": {"schema": _BINARY},
        },
    }
}


@router.post(
    "",
    response_model=PredictResponse,
    openapi_extra=_REQUEST_BODY,
    responses=error_responses(
        errors.MalformedMultipartError,
        errors.EmptyBodyError,
        errors.BodyTooLargeError,
        errors.MissingContentTypeError,
        errors.UnsupportedContentTypeError,
        errors.InvalidRequestError,
        errors.MissingFilesError,
        errors.TooManyFilesError,
        errors.EmptyFileError,
        errors.NotAnImageError,
        errors.TruncatedImageError,
        errors.ImageTooLargeError,
        errors.WrongImageSizeError,
        errors.UnsupportedImageModeError,
        errors.NoInkError,
        errors.ModelNotReadyError,
    ),
)
async def predict(
    request: Request,
    runtime: RuntimeDep,
    settings: SettingsDep,
    normalize: Annotated[
        NormalizeMode,
        Query(
            description=(
                "`auto`: pass 28x28 images that already look like MNIST through unchanged and"
                " bring every other image into MNIST form (polarity, background, 20x20 fit,"
                " centre of mass); `always`: normalise every image; `never`: the strict 28x28"
                " contract."
            )
        ),
    ] = NormalizeMode.AUTO,
    return_input: Annotated[
        bool, Query(description="Also return the 28x28 image the model saw, as base64 PNG.")
    ] = False,
) -> Response:
    """Classify digit images sent as multipart `files` parts or as one raw image body."""
    uploads = await read_uploads(
        request, UploadLimits(max_bytes=settings.max_upload_bytes, max_files=settings.max_files)
    )
    limits = ImageLimits(max_side=settings.max_image_side, max_pixels=settings.max_image_pixels)
    # Headers only (sizes, limits): cheap. A few tiny 28x28 images then decode faster than a
    # thread hand-off; anything else goes to a worker thread so the event loop keeps serving.
    images = read_headers(uploads, limits)
    inline = is_quick(uploads, images, normalize, settings.inline_work_max_bytes)
    batcher: MicroBatcher | None = request.app.state.batcher
    metrics: Metrics = request.app.state.metrics
    if batcher is None:
        work = partial(
            predict_uploads, runtime, uploads, images, mode=normalize, return_input=return_input
        )
        body = work() if inline else await anyio.to_thread.run_sync(work)
        metrics.observe_batch(len(uploads))
    else:
        decode = partial(prepare_all, uploads, images, normalize)
        inputs = decode() if inline else await anyio.to_thread.run_sync(decode)
        probabilities = await batcher.predict(stack(inputs))
        body = response_body(runtime, uploads, inputs, probabilities, return_input=return_input)
    metrics.count_predictions(prediction["digit"] for prediction in body["predictions"])
    return Response(orjson.dumps(body), media_type="application/json")
