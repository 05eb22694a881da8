"""ASGI middleware: request ids and access log lines, and a readable start-up failure.

Both are plain ASGI (not ``BaseHTTPMiddleware``) so they add almost nothing per request and do
not break streaming bodies or context variables.
"""

from __future__ import annotations

import logging
import time

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.context import REQUEST_ID_HEADER, choose_request_id, request_id_var
from app.observability.logs import json_line, sole_handler
from app.protocols.native.errors import error_response
from app.runtime.servable import ModelLoadError

access_logger = logging.getLogger("app.access")
error_logger = logging.getLogger("app.error")

_HEADER = REQUEST_ID_HEADER.lower().encode("latin-1")


class RequestContextMiddleware:
    """Tags each request with an id (echoed in X-Request-ID) and logs one line when it ends.

    It also turns an unexpected exception into the API's JSON error shape, so even a 500 carries
    the request id; the traceback goes to the log, not to the client.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        response = ResponseWatch(send, request_id)
        try:
            await self.app(scope, receive, response)
        except Exception:
            error = internal_error(scope)
            if not response.started:
                await error(scope, receive, response)
        finally:
            log_access(scope, response.status, started)
            request_id_var.reset(token)


class ResponseWatch:
    """The ``send`` a request's app gets: adds the request id to the response's start and notes
    its status, for the metrics and the access line (500 while no response has started)."""

    __slots__ = ("request_id", "send", "started", "status")

    def __init__(self, send: Send, request_id: str) -> None:
        self.send = send
        self.request_id = request_id
        self.status = 500
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
            message = with_request_id(message, self.request_id)
        await self.send(message)


def request_id_of(scope: Scope) -> str:
    """The request's id: the client's ``X-Request-ID`` when it is sane, else a fresh one."""
    incoming = dict(scope["headers"]).get(_HEADER)
    return choose_request_id(incoming.decode("latin-1") if incoming else None)


def with_request_id(message: Message, request_id: str) -> Message:
    """A response start with the request id as its (one) ``X-Request-ID`` header, added last."""
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _HEADER]
    headers.append((_HEADER, request_id.encode("latin-1")))
    return {**message, "headers": headers}


def internal_error(scope: Scope) -> Response:
    """Log the exception being handled; the 500 a client gets for it, without its details."""
    error_logger.exception("unhandled error", extra={"path": scope["path"]})
    return error_response(500, "internal_error", "the server failed; see its log")


def log_access(scope: Scope, status: int, started: float) -> None:
    """The request's access line, if access lines are on (``started``: its perf_counter)."""
    if access_logger.isEnabledFor(logging.INFO):
        _log_access(scope, status, time.perf_counter() - started)


def _log_access(scope: Scope, status: int, seconds: float) -> None:
    extra = {
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "client": scope["client"][0] if scope.get("client") else None,
    }
    name = access_logger.name
    handler = sole_handler(access_logger, logging.INFO)
    if handler is not None:  # only the service's own handler would see the line: straight to it
        handler.write_line(json_line(time.time(), "info", name, "request", extra))
        return
    # Built with makeRecord rather than logger.info: the line never shows the caller's file and
    # line, and looking them up on every request is a few per cent of a prediction's time.
    record = access_logger.makeRecord(name, logging.INFO, "", 0, "request", (), None, extra=extra)
    access_logger.handle(record)


class StartupFailureMiddleware:
    """Reports a model that cannot be loaded as one log line instead of a traceback.

    Starlette sends the server the whole traceback of a failed start-up; for the expected
    failure (no model, a corrupt one) the operator needs one sentence, and the server then
    exits non-zero as usual. Any other start-up error keeps its full traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_failure(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                held.append(message)
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_failure)
        except ModelLoadError as exc:
            await send({"type": "lifespan.startup.failed", "message": f"cannot start: {exc}"})
        except BaseException:
            for message in held:
                await send(message)
            raise
