"""The prediction routes' way through the app: every middleware's per-request work in one frame.

A prediction is a few hundred bytes in and out, and the service's middleware (request id and
access line, metrics, body admission), FastAPI's outer layers and Starlette's layers under it
(exception handlers, the exit stack, the router, the route) each add a frame, a ``send``
wrapper or a dict copy: ~15 µs of a ~130 µs request, spent on work that is done elsewhere or
not needed. This ASGI app, in front of the whole middleware stack (:func:`app.main.create_app`
puts it there), takes the requests that match a prediction route and does that work itself,
with the helpers the middleware uses, in the same order: the request id, the body's admission
and deadline, ``Connection: close`` while draining, the app's exception handlers, the metrics,
the 500 for an unexpected error, the access line. Every other request goes down the stack.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from fastapi import FastAPI
from starlette._exception_handler import _lookup_exception_handler
from starlette._utils import get_route_path, is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from app.observability.context import request_id_var
from app.observability.metrics import Metrics
from app.observability.middleware import (
    ResponseWatch,
    internal_error,
    log_access,
    request_id_of,
)
from app.protocols.request_routes import RequestOnlyRoute
from app.traffic.admission import ByteBudget
from app.traffic.drain import Drain
from app.traffic.guard import TrafficGuard, closing


class PredictionPath:
    """Serves the routes in ``routes`` that lead the app's routing table; passes on the rest.

    Only routes whose endpoint takes the bare request (:class:`RequestOnlyRoute`) qualify, and
    only those no other route comes before: the router would pick them first too. It stands in
    for exactly :class:`~app.observability.middleware.RequestContextMiddleware`,
    :class:`~app.observability.metrics.MetricsMiddleware` and :class:`TrafficGuard` (with the
    same settings), so the app puts it in front only when those are its whole middleware.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: FastAPI,
        routes: Sequence[BaseRoute],
        metrics: Metrics,
        budget: ByteBudget,
        body_timeout: float,
        drain: Drain,
    ) -> None:
        self.app = app
        self.router = service.router
        self.metrics = metrics
        self.guard = TrafficGuard(app, budget=budget, body_timeout=body_timeout, drain=drain)
        self.routes: list[RequestOnlyRoute] = []
        for route in service.router.routes:
            if route not in routes or not isinstance(route, RequestOnlyRoute) or not route.bare:
                break
            self.routes.append(route)
        self.methods = frozenset(method for route in self.routes for method in route.methods or ())
        # The handlers Starlette's ExceptionMiddleware would apply, as FastAPI sets it up.
        handlers = {
            key: handler
            for key, handler in service.exception_handlers.items()
            if key not in (500, Exception)
        }
        exceptions = ExceptionMiddleware(app, handlers=handlers)
        self.handlers = (exceptions._exception_handlers, exceptions._status_handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in self.methods:
            path = get_route_path(scope)
            for route in self.routes:
                if route.path_regex.match(path) is None:
                    continue  # what matches() finds first, without building a child scope
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)  # as the router would: endpoint, params, route
                    await self._serve(route, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(
        self, route: RequestOnlyRoute, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if "router" not in scope:
            scope["router"] = self.router
        scope["starlette.exception_handlers"] = self.handlers
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        response = ResponseWatch(send, request_id)
        body = self.guard.open_body(scope, receive)
        downstream = closing(response, body) if self.guard.drain.active else response
        try:
            try:
                try:
                    await route.app(scope, body, downstream)
                except Exception as exc:
                    await self._handle(exc, response.started, scope, body, downstream)
            finally:
                self.guard.close_body(body)
                elapsed = time.perf_counter() - started
                self.metrics.observe_request(scope["method"], route.path, response.status, elapsed)
        except Exception:
            error = internal_error(scope)
            if not response.started:
                await error(scope, receive, response)
        finally:
            log_access(scope, response.status, started)
            request_id_var.reset(token)

    async def _handle(
        self, exc: Exception, response_started: bool, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """What Starlette's exception middleware does with an exception: its handler's response."""
        exception_handlers, status_handlers = self.handlers
        handler = None
        if isinstance(exc, HTTPException):
            handler = status_handlers.get(exc.status_code)
        if handler is None:
            handler = _lookup_exception_handler(exception_handlers, exc)
        if handler is None:
            raise exc
        if response_started:
            raise RuntimeError("Caught handled exception, but response already started.") from exc
        request = Request(scope, receive, send)
        if is_async_callable(handler):
            response = await handler(request, exc)  # type: ignore[arg-type]
        else:
            response = await run_in_threadpool(handler, request, exc)
        if response is not None:
            await response(scope, receive, send)
        exc.__traceback__ = None  # a reused exception would gather tracebacks across requests
