"""CORS preflights: an allowed origin gets Starlette's answer, a refusal the API's error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.observability.context import REQUEST_ID_HEADER
from app.observability.middleware import RequestContextMiddleware
from app.protocols.native.cors import CORSMiddleware
from tests.app.errors_shape import assert_error

pytestmark = pytest.mark.anyio
ALLOWED = "https://digits.example"


async def hello(_: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A tiny app with the middleware set up as the service sets it up, request ids around it."""
    app = Starlette(routes=[Route("/predict", hello, methods=["GET", "POST"])])
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[ALLOWED],
        allow_methods=["GET", "POST"],
        allow_headers=["*"],
        expose_headers=[REQUEST_ID_HEADER],
    )
    app.add_middleware(RequestContextMiddleware)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method}


async def test_a_preflight_from_a_disallowed_origin_gets_the_json_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options("/predict", headers=preflight("https://evil.example"))
    error = assert_error(response, 400, "cors_origin_not_allowed")
    assert "https://evil.example" in error["message"]
    assert error["details"] == {"origin": "https://evil.example"}
    assert "access-control-allow-origin" not in response.headers


async def test_a_preflight_asking_for_a_method_not_allowed_gets_the_json_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options("/predict", headers=preflight(ALLOWED, method="DELETE"))
    error = assert_error(response, 400, "cors_request_not_allowed")
    assert "method" in error["message"]
    assert error["details"]["method"] == "DELETE"
    # Starlette's CORS headers are kept, so the browser still sees what it may do.
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-methods"] == "GET, POST"


async def test_an_allowed_preflight_and_request_are_answered_as_before(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options("/predict", headers=preflight(ALLOWED))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    answered = await client.post("/predict", headers={"Origin": ALLOWED})
    assert answered.text == "hello"
    assert answered.headers["access-control-allow-origin"] == ALLOWED
    assert REQUEST_ID_HEADER.lower() in answered.headers["access-control-expose-headers"].lower()
