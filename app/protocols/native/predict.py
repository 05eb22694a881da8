"""``POST /predict``: images in, digits and probabilities out.

This is the hot path, so FastAPI hands it the bare request: resolving two dependencies and two
query parameters through FastAPI's solver cost ~65 µs per request, more than decoding and
predicting a 28x28 PNG. The query options are validated by one pydantic model instead (same 422
errors) and documented in the OpenAPI schema from that model.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from app import errors
from app.config import Settings
from app.dataplane import (
    is_quick,
    predict_uploads,
    prepare_all,
    read_headers,
    response_body,
    stack,
)
from app.dependencies import ready_runtime
from app.images.decoding import ImageLimits
from app.images.normalize import NormalizeMode
from app.observability.metrics import Metrics
from app.protocols.native.error_docs import error_responses
from app.protocols.native.schemas import PredictResponse
from app.protocols.native.uploads import FILES_FIELD, UploadLimits, read_uploads
from app.runtime.batching import MicroBatcher


class RequestOnlyRoute(APIRoute):
    """A documented FastAPI route whose endpoint takes the bare request and returns a response.

    FastAPI builds its OpenAPI entry as for any route (``responses``, ``openapi_extra``), but
    calls the endpoint directly, skipping the per-request machinery that resolves parameters,
    dependencies and response models (~25 µs that this endpoint would not use).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


router = APIRouter(prefix="/predict", tags=["predict"], route_class=RequestOnlyRoute)


class PredictOptions(BaseModel):
    """The query parameters of ``POST /predict``."""

    model_config = ConfigDict(frozen=True)

    normalize: NormalizeMode = Field(
        default=NormalizeMode.AUTO,
        description=(
            "`auto`: pass 28x28 images that already look like MNIST through unchanged and"
            " bring every other image into MNIST form (polarity, background, 20x20 fit,"
            " centre of mass); `always`: normalise every image; `never`: the strict 28x28"
            " contract."
        ),
    )
    return_input: bool = Field(
        default=False, description="Also return the 28x28 image the model saw, as base64 PNG."
    )

    @classmethod
    def from_request(cls, request: Request) -> PredictOptions:
        """The options in the query string; a 422 like FastAPI's for invalid ones."""
        if not request.scope["query_string"]:
            return _DEFAULT_OPTIONS
        try:
            return cls.model_validate(request.query_params)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
            ) from exc


_DEFAULT_OPTIONS = PredictOptions()


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI ``parameters`` for the fields of ``model``, as FastAPI would write them."""
    parameters = []
    for name, info in model.model_fields.items():
        assert info.annotation is not None, f"{model.__name__}.{name} needs a type"
        adapter: TypeAdapter[Any] = TypeAdapter(info.annotation)
        schema = adapter.json_schema()
        schema.pop("description", None)  # an enum's docstring, meant for developers
        schema["default"] = adapter.dump_python(info.default, mode="json")
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": info.description,
                "schema": schema,
            }
        )
    return parameters


# The body is parsed by .uploads (streaming, with limits), so it is described here by hand.
_BINARY = {"type": "string", "format": "binary"}
_OPENAPI: dict[str, Any] = {
    "parameters": _query_parameters(PredictOptions),
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
    },
}


@router.post(
    "",
    response_model=PredictResponse,
    openapi_extra=_OPENAPI,
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
async def predict(request: Request) -> Response:
    """Classify digit images sent as multipart `files` parts or as one raw image body."""
    options = PredictOptions.from_request(request)
    runtime = ready_runtime(request)
    state = request.app.state
    settings: Settings = state.settings
    uploads = await read_uploads(
        request, UploadLimits(max_bytes=settings.max_upload_bytes, max_files=settings.max_files)
    )
    limits = ImageLimits(max_side=settings.max_image_side, max_pixels=settings.max_image_pixels)
    # Headers only (sizes, limits): cheap. A few tiny 28x28 images then decode faster than a
    # thread hand-off; anything else goes to a worker thread so the event loop keeps serving.
    images = read_headers(uploads, limits)
    mode, return_input = options.normalize, options.return_input
    inline = is_quick(uploads, images, mode, settings.inline_work_max_bytes)
    batcher: MicroBatcher | None = state.batcher
    metrics: Metrics = state.metrics
    if batcher is None:
        work = partial(
            predict_uploads, runtime, uploads, images, mode=mode, return_input=return_input
        )
        body = work() if inline else await anyio.to_thread.run_sync(work)
        metrics.observe_batch(len(uploads))
    else:
        decode = partial(prepare_all, uploads, images, mode)
        inputs = decode() if inline else await anyio.to_thread.run_sync(decode)
        probabilities = await batcher.predict(stack(inputs))
        body = response_body(runtime, uploads, inputs, probabilities, return_input=return_input)
    metrics.count_predictions(prediction["digit"] for prediction in body["predictions"])
    return Response(orjson.dumps(body), media_type="application/json")
