"""POST /predict with malformed requests: content types, form fields, limits, bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from fastapi import FastAPI

from tests.app.conftest import serving
from tests.app.errors_shape import assert_error, assert_still_serving
from tests.app.samples import digit_pixels, png

pytestmark = pytest.mark.anyio


def client_for(app: FastAPI) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """A client for ``app`` with its repository loaded."""
    return serving(app)


async def test_missing_content_type(client: httpx.AsyncClient) -> None:
    response = await client.post("/predict", content=png(digit_pixels()))
    assert "content-type" not in response.request.headers
    error = assert_error(response, 415, "missing_content_type")
    assert "multipart/form-data" in error["message"]
    assert "image/" in error["message"]
    await assert_still_serving(client)


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "application/pdf"])
async def test_wrong_content_type(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        "/predict", content=png(digit_pixels()), headers={"Content-Type": content_type}
    )
    error = assert_error(response, 415, "unsupported_content_type")
    assert content_type in error["message"]
    await assert_still_serving(client)


async def test_empty_raw_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/predict", content=b"", headers={"Content-Type": "image/png"})
    assert_error(response, 400, "empty_body")
    await assert_still_serving(client)


async def test_empty_multipart_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/predict", content=b"", headers={"Content-Type": "multipart/form-data; boundary=xyz"}
    )
    assert_error(response, 400, "empty_body")


async def test_empty_file(client: httpx.AsyncClient) -> None:
    response = await client.post("/predict", files={"files": ("empty.png", b"", "image/png")})
    error = assert_error(response, 422, "empty_file")
    assert "empty.png" in error["message"]
    await assert_still_serving(client)


async def test_no_file_part(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/predict", files={"file": ("a.png", png(digit_pixels()))}, data={"note": "hi"}
    )
    error = assert_error(response, 422, "missing_files")
    assert "'files'" in error["message"]
    assert "'file'" in error["message"]
    await assert_still_serving(client)


async def test_multipart_without_boundary(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/predict", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data"}
    )
    assert_error(response, 400, "malformed_multipart")


async def test_multipart_cut_short(client: httpx.AsyncClient) -> None:
    body = b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n' + png(
        digit_pixels()
    )
    response = await client.post(
        "/predict", content=body, headers={"Content-Type": "multipart/form-data; boundary=xyz"}
    )
    assert_error(response, 400, "malformed_multipart")
    await assert_still_serving(client)


async def test_too_many_files(make_app: Callable[..., FastAPI]) -> None:
    files = [("files", (f"{i}.png", png(digit_pixels(seed=i)))) for i in range(4)]
    async with client_for(make_app(max_files=3)) as client:
        error = assert_error(await client.post("/predict", files=files), 422, "too_many_files")
        assert "3" in error["message"]
        assert (await client.post("/predict", files=files[:3])).status_code == 200


async def test_declared_length_over_the_limit(make_app: Callable[..., FastAPI]) -> None:
    async with client_for(make_app(max_upload_bytes=1000)) as client:
        response = await client.post(
            "/predict", content=b"\x00" * 1001, headers={"Content-Type": "image/png"}
        )
        error = assert_error(response, 413, "body_too_large")
        assert "1000 bytes" in error["message"]
        await assert_still_serving(client)


class CountingBody:
    """A chunked request body that records how much of it the server pulled."""

    def __init__(self, chunks: int, chunk: bytes, head: bytes = b"") -> None:
        self.total, self.chunk, self.head, self.sent = chunks, chunk, head, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        for _ in range(self.total):
            self.sent += 1
            yield self.chunk


PART_HEAD = b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\n\r\n'


@pytest.mark.parametrize(
    ("content_type", "head"),
    [("image/png", b""), ("multipart/form-data; boundary=xyz", PART_HEAD)],
)
async def test_streamed_body_over_the_limit_is_cut_off(
    make_app: Callable[..., FastAPI], content_type: str, head: bytes
) -> None:
    limit, chunk = 64 * 1024, b"\x00" * 4096
    body = CountingBody(chunks=1024, chunk=chunk, head=head)  # 4 MiB, no Content-Length
    async with client_for(make_app(max_upload_bytes=limit)) as client:
        response = await client.post(
            "/predict", content=body, headers={"Content-Type": content_type}
        )
        assert "content-length" not in response.request.headers
        assert_error(response, 413, "body_too_large")
        # The server stopped reading right after the limit, not at the end of the body.
        assert body.sent <= limit // len(chunk) + 2 < body.total
        await assert_still_serving(client)


async def test_invalid_query_parameter(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/predict",
        params={"return_input": "perhaps"},
        content=png(digit_pixels()),
        headers={"Content-Type": "image/png"},
    )
    error = assert_error(response, 422, "invalid_request")
    assert "return_input" in error["message"]
