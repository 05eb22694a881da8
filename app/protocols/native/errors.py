"""The native protocol's error shape, and the handlers that render every error in it.

Every error leaves the native routes as
``{"error": {"status", "code", "message", "request_id"[, "details"]}}``; that includes the
framework's own 404/405 and request-validation errors, so clients parse one thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.errors import ApiError, InvalidRequestError
from app.observability.context import REQUEST_ID_HEADER, current_request_id
from app.protocols import standard_errors

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
# Paths of the standard protocols (v2, TF Serving): the framework's own 404/405s there too
# take those protocols' error shape.
STANDARD_PREFIXES = ("/v2", "/v1/")


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The one JSON error shape, with the request id in the body and the header."""
    request_id = current_request_id()
    body: dict[str, Any] = {
        "status": status,
        "code": code,
        "message": message,
        "request_id": request_id,
    }
    if details:
        body["details"] = dict(details)
    response = Response(
        content=orjson.dumps({"error": body}, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(
        exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint: see /docs for the API"
    if request.url.path.startswith(STANDARD_PREFIXES):  # their clients read {"error": message}
        response = standard_errors.error_response(exc.status_code, message)
        response.headers.update(exc.headers or {})
        return response
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [_describe(error) for error in exc.errors()]
    return error_response(
        InvalidRequestError.status,
        InvalidRequestError.code,
        "; ".join(problems),
        details={"errors": [_jsonable(error) for error in exc.errors()]},
    )


def _describe(error: Mapping[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ())]
    where = f"{location[0]} parameter {'.'.join(location[1:])!r}" if location else "request"
    received = f" (received {error['input']!r})" if "input" in error else ""
    return f"{where}: {error.get('msg', 'invalid')}{received}"


def _jsonable(error: Mapping[str, Any]) -> dict[str, Any]:
    # pydantic puts exception objects in "ctx"; keep only the parts clients can use.
    return {key: error[key] for key in ("loc", "msg", "type", "input") if key in error}


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through :func:`error_response`."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
