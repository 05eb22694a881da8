"""Routes whose endpoint takes the bare request: documented by FastAPI, called without its work.

The prediction routes of every protocol are the hot path. FastAPI documents them as any route
(``responses``, ``openapi_extra``), but per request it would resolve parameters, dependencies and
response models, then wrap the call in two exit stacks and a second exception-handling layer
(~10 µs for a route that uses none of it). The endpoint reads what it needs from the request, and
an exception it raises goes to the application's exception middleware, which applies the same
handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class RequestOnlyRoute(APIRoute):
    """A documented route whose endpoint takes the bare request and returns a response."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        # Whether the route's app is the bare call (a route-level body limit keeps FastAPI's).
        self.bare = self.max_body_size is None
        if self.bare:
            self.app = _request_response(self.get_route_handler())

    def get_route_handler(self) -> Handler:
        endpoint: Handler = self.endpoint
        return endpoint


def _request_response(handler: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """The ASGI app that calls ``handler`` with the request and sends its response."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await handler(Request(scope, receive, send))
        await response(scope, receive, send)

    return app
