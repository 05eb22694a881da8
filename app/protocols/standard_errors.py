"""The error shape of the standard protocols, ``{"error": "<message>"}``, rendered in one place.

Triton, KServe, MLServer and TensorFlow Serving all answer errors this way, and their clients
read the message from that key. The statuses are theirs too: a client's mistake is a 400 (the
native API's 422s become 400s here), an unknown model or version a 404, a body over the limit a
413, a model not ready a 503. Never a 5xx for a client's mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, Field

from app.errors import ApiError, UnprocessableContentError
from app.observability.context import REQUEST_ID_HEADER, current_request_id
from app.protocols.request_routes import Handler, RequestOnlyRoute


class ProtocolError(ApiError):
    """A request the protocol's rules refuse (wrong datatype, shape, binary size, name...)."""

    status, code, example = 400, "bad_request", "input 'images': datatype FP16 is not accepted"


class StandardErrorBody(BaseModel):
    """An error of the standard protocols."""

    error: str = Field(examples=["input 'images' has shape [1, 27, 28]; expected one of ..."])


_MEANINGS = {
    400: "The request breaks a rule of the protocol or of the model's input.",
    404: "No such model or version.",
    408: "The request body did not arrive in time; the connection is closed.",
    413: "The request body is over the configured limit.",
    503: (
        "The model (or that version) is not available right now, or the server is at capacity"
        " (then with Retry-After)."
    ),
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, in the ``{"error": message}`` shape."""
    return {
        status: {"model": StandardErrorBody, "description": _MEANINGS[status]}
        for status in statuses
    }


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """``{"error": message}`` with the request id in its header."""
    response = Response(
        orjson.dumps({"error": message}), status, headers=headers, media_type="application/json"
    )
    request_id = current_request_id()
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def render(exc: ApiError) -> Response:
    status = 400 if isinstance(exc, UnprocessableContentError) else exc.status
    return error_response(status, exc.message, exc.headers)


# The path parameters of the standard protocols' routes, for their OpenAPI entries (the
# endpoints read them from the request themselves, so FastAPI cannot see them).
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "name": {
        "description": "A model in the repository.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"},
        "example": "mnist",
    },
    "version": {
        "description": "One of the model's versions (a number; anything else is a 404).",
        "schema": {"type": "integer", "minimum": 1},
        "example": 1,
    },
    "label": {
        "description": "A version label (none are configured: always a 404 naming the versions).",
        "schema": {"type": "string", "minLength": 1},
        "example": "stable",
    },
}


class StandardRoute(RequestOnlyRoute):
    """A documented route whose endpoint takes the bare request; errors in the plain shape.

    As for the native prediction routes, FastAPI's per-request machinery is skipped: these
    endpoints read their path parameters and body themselves, and the route documents the path
    parameters from :data:`PATH_PARAMETERS`.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        documented = [
            {"name": name, "in": "path", "required": True, **PATH_PARAMETERS[name]}
            for name in self.param_convertors
        ]
        if documented:
            extra = dict(self.openapi_extra or {})
            extra["parameters"] = [*documented, *extra.get("parameters", [])]
            self.openapi_extra = extra

    def get_route_handler(self) -> Handler:
        endpoint: Handler = self.endpoint

        async def handle(request: Request) -> Response:
            try:
                return await endpoint(request)
            except ApiError as exc:
                return render(exc)

        return handle
