"""The native prediction routes: images in, digits and probabilities out.

``POST /predict`` uses the default model; ``POST /models/{name}/predict`` and
``POST /models/{name}/versions/{version}/predict`` name one. These are the hot path, so FastAPI
hands them the bare request: resolving dependencies and query parameters through FastAPI's
solver cost ~65 µs per request, more than decoding and predicting a 28x28 PNG. The query
options are validated by one pydantic model instead (same 422 errors) and documented in the
OpenAPI schema from that model, and the path parameters are read from the matched route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from app import errors
from app.batch import InferOptions
from app.config import Settings
from app.dataplane import infer
from app.images.decoding import ImageLimits
from app.protocols.native.error_docs import error_responses
from app.protocols.native.options import DEFAULT_OPTIONS, PredictOptions, query_parameters
from app.protocols.native.schemas import PredictResponse
from app.protocols.native.uploads import FILES_FIELD, UploadLimits, read_uploads
from app.protocols.request_routes import RequestOnlyRoute
from app.repository.registry import ModelRegistry, unknown_version

router = APIRouter(tags=["predict"], route_class=RequestOnlyRoute)

# The body is parsed by .uploads (streaming, with limits), so it is described here by hand.
_BINARY = {"type": "string", "format": "binary"}
IMAGE_TYPES = ("image/png", "image/jpeg", "image/bmp", "image/gif", "image/tiff", "image/webp")
_OPENAPI: dict[str, Any] = {
    "parameters": query_parameters(PredictOptions),
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
                            "minItems": 1,
                            "maxItems": 64,  # MNIST_MAX_FILES: see document_limits()
                            "description": "One or more images, predicted in this order.",
                        }
                    },
                },
                "encoding": {FILES_FIELD: {"contentType": ", ".join(IMAGE_TYPES)}},
            },
            "image/*": {"schema": {**_BINARY, "minLength": 1}},
        },
    },
}


_PATH_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "A model in the repository (GET /models lists them).",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"},
    "example": "mnist",
}
_PATH_VERSION = {
    "name": "version",
    "in": "path",
    "required": True,
    "description": "One of the model's versions (GET /models/{name} lists them).",
    "schema": {"type": "integer", "minimum": 1},
    "example": 1,
}
_ERRORS = (
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
    errors.CannotExplainError,
    errors.ModelNotReadyError,
    errors.OverloadedError,
    errors.BodyTimeoutError,
)


def _with_path(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {**_OPENAPI, "parameters": [*parameters, *_OPENAPI["parameters"]]}


@dataclass(frozen=True, slots=True)
class PredictLimits:
    """The limits every prediction request of an app is held to, built once from its settings."""

    uploads: UploadLimits
    images: ImageLimits
    default_options: InferOptions  # for a request without query options, the commonest kind

    @classmethod
    def from_settings(cls, settings: Settings) -> PredictLimits:
        return cls(
            UploadLimits(max_bytes=settings.max_upload_bytes, max_files=settings.max_files),
            ImageLimits(max_side=settings.max_image_side, max_pixels=settings.max_image_pixels),
            InferOptions(
                inline_max_bytes=settings.inline_work_max_bytes,
                min_confidence=settings.min_confidence,
            ),
        )

    def options(self, query: PredictOptions) -> InferOptions:
        """How the data plane treats the images of a request with these query options."""
        if query is DEFAULT_OPTIONS:
            return self.default_options
        return InferOptions(
            normalize=query.normalize,
            return_input=query.return_input,
            explain=query.explain,
            inline_max_bytes=self.default_options.inline_max_bytes,
            min_confidence=(
                self.default_options.min_confidence
                if query.min_confidence is None
                else query.min_confidence
            ),
        )


async def _predict(request: Request, model: str | None, version: int | None) -> Response:
    options = PredictOptions.from_request(request)
    state = request.app.state
    limits: PredictLimits = state.predict_limits
    registry: ModelRegistry = state.registry
    # Leased before the body is read: an unknown model is refused without reading it, and the
    # version that accepted the request answers it even if a newer one is swapped in meanwhile.
    served = registry.lease(model, version)
    try:
        uploads = await read_uploads(request, limits.uploads)
        body = await infer(
            served,
            state.metrics,
            uploads,
            limits.images,
            limits.options(options),
            state.admission.decoding,
        )
    finally:
        served.release()
    return Response(orjson.dumps(body), media_type="application/json")


def path_version(request: Request) -> int:
    """The ``{version}`` path parameter; a 404 listing the versions when it is not a number."""
    text: str = request.path_params["version"]
    if text.isascii() and text.isdigit() and int(text) > 0:  # "²" is a digit to isdigit()
        return int(text)
    registry: ModelRegistry = request.app.state.registry
    raise unknown_version(registry.record_of(request.path_params["name"]), text)


@router.post(
    "/predict",
    response_model=PredictResponse,
    openapi_extra=_OPENAPI,
    responses=error_responses(*_ERRORS),
)
async def predict(request: Request) -> Response:
    """Classify digit images with the default model: multipart `files` or one raw image body."""
    return await _predict(request, None, None)


@router.post(
    "/models/{name}/predict",
    response_model=PredictResponse,
    openapi_extra=_with_path(_PATH_NAME),
    responses=error_responses(*_ERRORS, errors.UnknownModelError),
)
async def predict_with_model(request: Request) -> Response:
    """Classify digit images with the newest available version of the named model."""
    return await _predict(request, request.path_params["name"], None)


@router.post(
    "/models/{name}/versions/{version}/predict",
    response_model=PredictResponse,
    openapi_extra=_with_path(_PATH_NAME, _PATH_VERSION),
    responses=error_responses(*_ERRORS, errors.UnknownModelError, errors.UnknownVersionError),
)
async def predict_with_version(request: Request) -> Response:
    """Classify digit images with one version of the named model."""
    return await _predict(request, request.path_params["name"], path_version(request))


def document_limits(openapi: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The OpenAPI document with this app's limits on the prediction routes' bodies."""
    for route in router.routes:
        assert isinstance(route, RequestOnlyRoute)
        operation = openapi["paths"][route.path_format]["post"]
        content = operation["requestBody"]["content"]
        files = content["multipart/form-data"]["schema"]["properties"][FILES_FIELD]
        files["maxItems"] = settings.max_files
    return openapi
