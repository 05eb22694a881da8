"""CORS for browsers calling the API from other origins, refusals in the API's error shape.

Starlette's middleware answers a preflight it refuses with a 400 ``text/plain`` "Disallowed
CORS origin"; a client that parses the one JSON error shape everywhere else could not read it.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware import cors
from starlette.responses import Response

from app.protocols.native.errors import error_response

ORIGIN_NOT_ALLOWED = "cors_origin_not_allowed"
REQUEST_NOT_ALLOWED = "cors_request_not_allowed"


class CORSMiddleware(cors.CORSMiddleware):
    """Starlette's CORS handling, with a refused preflight rendered by :func:`error_response`."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        # Starlette's own CORS headers stay: a browser reads its verdict from them, not the body.
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.startswith("access-control-") or name == "vary"
        }
        origin = request_headers["origin"]
        if not self.is_allowed_origin(origin=origin):
            return error_response(
                400,
                ORIGIN_NOT_ALLOWED,
                f"the origin {origin!r} may not call this API from a browser",
                details={"origin": origin},
                headers=headers,
            )
        # The origin may call, but not with the method, headers or private-network access it asks.
        reason = bytes(response.body).decode("latin-1").removeprefix("Disallowed CORS ")
        return error_response(
            400,
            REQUEST_NOT_ALLOWED,
            f"the preflight asks for what this API does not allow from a browser: {reason}",
            details={
                "method": request_headers.get("access-control-request-method"),
                "headers": request_headers.get("access-control-request-headers"),
            },
            headers=headers,
        )
