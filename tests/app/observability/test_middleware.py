"""App-wide behaviour: request ids, access log lines, framework errors, CORS, a 500."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from fastapi import FastAPI

from tests.app.conftest import serving
from tests.app.errors_shape import assert_error

pytestmark = pytest.mark.anyio


def client_for(app: FastAPI) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """A client for ``app`` with its repository loaded."""
    return serving(app)


async def test_every_response_has_a_fresh_request_id(client: httpx.AsyncClient) -> None:
    first = (await client.get("/health/live")).headers["x-request-id"]
    second = (await client.get("/health/live")).headers["x-request-id"]
    assert len(first) >= 16
    assert first != second


async def test_a_sane_client_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere", headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["error"]["request_id"] == "trace-42"
    hostile = await client.get("/health/live", headers={"X-Request-ID": "a b\x7f" + "x" * 300})
    assert hostile.headers["x-request-id"] != "a b\x7f" + "x" * 300


async def test_one_json_log_line_per_request(
    client: httpx.AsyncClient, access_log: io.StringIO
) -> None:
    response = await client.get("/weights/99.png")
    [line] = access_log.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "request"
    assert entry["method"] == "GET"
    assert entry["path"] == "/weights/99.png"
    assert entry["status"] == 404
    assert entry["request_id"] == response.headers["x-request-id"]
    assert entry["duration_ms"] >= 0
    assert entry["level"] == "info"


async def test_unknown_path_and_method_use_the_error_shape(client: httpx.AsyncClient) -> None:
    error = assert_error(await client.get("/nowhere"), 404, "not_found")
    assert "/docs" in error["message"]
    assert_error(await client.get("/predict"), 405, "method_not_allowed")
    assert_error(await client.delete("/weights"), 405, "method_not_allowed")


async def test_an_unexpected_failure_is_a_500_in_the_error_shape(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    async with client_for(app) as client:
        error = assert_error(await client.get("/boom"), 500, "internal_error")
        assert "bug" not in error["message"]  # internals stay in the log
        assert (await client.get("/health/live")).status_code == 200


async def test_cors_allows_the_configured_origins(make_app: Callable[..., FastAPI]) -> None:
    preflight = {"Origin": "http://ui.example", "Access-Control-Request-Method": "POST"}
    async with client_for(make_app(cors_origins=["http://ui.example"])) as client:
        response = await client.options("/predict", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "http://ui.example"
        assert "x-request-id" in response.headers
        simple = await client.get("/health/live", headers={"Origin": "http://ui.example"})
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
        other = await client.get("/health/live", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    async with client_for(make_app()) as client:
        response = await client.get("/health/live", headers={"Origin": "http://ui.example"})
        assert "access-control-allow-origin" not in response.headers
