"""``POST /predict``: images in, digits and probabilities out."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request

from app import errors
from app.dependencies import RuntimeDep, SettingsDep
from app.error_docs import error_responses
from app.imaging import ImageLimits
from app.pipeline import predict_uploads
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
) -> PredictResponse:
    """Classify digit images sent as multipart `files` parts or as one raw image body."""
    uploads = await read_uploads(
        request, UploadLimits(max_bytes=settings.max_upload_bytes, max_files=settings.max_files)
    )
    limits = ImageLimits(max_side=settings.max_image_side, max_pixels=settings.max_image_pixels)
    # Decoding and inference are blocking; a worker thread keeps the event loop serving others.
    return await anyio.to_thread.run_sync(
        partial(
            predict_uploads,
            runtime,
            uploads,
            limits,
            mode=normalize,
            return_input=return_input,
        )
    )
