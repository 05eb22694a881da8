"""Assertions on the API's one error shape."""

from __future__ import annotations

from typing import Any

import httpx

from tests.app.samples import digit_pixels, png


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the JSON error shape with this status and code; returns ``error``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert (
        {"status", "code", "message", "request_id"}
        <= set(error)
        <= {
            "status",
            "code",
            "message",
            "request_id",
            "details",
        }
    )
    assert error["status"] == status
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert len(error["message"]) > 10
    assert error["request_id"] == response.headers["x-request-id"]
    return error


async def assert_still_serving(client: httpx.AsyncClient) -> None:
    """A good request right after a bad one still gets its prediction."""
    response = await client.post(
        "/predict", content=png(digit_pixels()), headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 1
