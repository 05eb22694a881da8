"""The guard in the app: body deadline (408, connection closed), admission (503 overloaded with
Retry-After, for bodies and for decoding), and drain (readiness 503, ``Connection: close``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image

from tests.app.conftest import MODEL_NAME, serving
from tests.app.samples import digit_pixels, encode, png

pytestmark = pytest.mark.anyio
MIB = 1024 * 1024


async def stalled_body(first: bytes, stall: float) -> AsyncIterator[bytes]:
    """A body whose first bytes arrive and the rest only after ``stall`` seconds."""
    yield first
    await asyncio.sleep(stall)
    yield b"\0"


def noisy_png(side: int) -> bytes:
    rng = np.random.default_rng(side)
    pixels = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels, mode="RGB"))


@pytest.mark.parametrize(
    ("path", "shape"),
    [("/predict", "native"), (f"/v2/models/{MODEL_NAME}/infer", "standard")],
)
async def test_a_body_that_stalls_is_a_408_and_the_connection_is_closed(
    make_app: Callable[..., FastAPI], path: str, shape: str
) -> None:
    app = make_app(body_timeout_s=0.2)
    async with serving(app) as client:
        response = await client.post(
            path,
            content=stalled_body(b"\x89PNG", stall=5),
            headers={"Content-Type": "image/png", "Content-Length": "1000"},
        )
    assert response.status_code == 408, response.text
    assert response.headers["connection"] == "close"
    if shape == "native":
        assert response.json()["error"]["code"] == "body_timeout"
    else:
        assert "did not arrive within 0.2 seconds" in response.json()["error"]
    assert app.state.admission.bodies.in_use == 0


async def test_a_body_that_arrives_in_time_is_answered_and_keeps_the_connection(
    make_app: Callable[..., FastAPI],
) -> None:
    image = png(digit_pixels())
    app = make_app(body_timeout_s=2)
    async with serving(app) as client:
        response = await client.post(
            "/predict",
            content=stalled_body(image[:10], stall=0.1),
            headers={"Content-Type": "image/png", "Content-Length": str(len(image) + 1)},
        )
    # The stalled request's last byte is junk after the PNG: the point is it was read, not 408.
    assert response.status_code != 408
    assert "connection" not in response.headers


async def test_bodies_past_the_budget_wait_then_get_503_overloaded_with_retry_after(
    make_app: Callable[..., FastAPI],
) -> None:
    # 2 MiB in all: 1 MiB for bodies. A 400 KiB body holds 800 KiB of it (twice its size).
    app = make_app(max_inflight_bytes=2 * MIB, queue_timeout_s=0.3)
    length = str(400 * 1024)
    headers = {"Content-Type": "image/png", "Content-Length": length}
    async with serving(app) as client:
        holding = asyncio.create_task(
            client.post("/predict", content=stalled_body(b"\x89PNG", stall=1.5), headers=headers)
        )
        await asyncio.sleep(0.2)
        assert app.state.admission.bodies.in_use == 800 * 1024
        refused = await client.post(
            "/predict", content=stalled_body(b"\x89PNG", stall=0), headers=headers
        )
        small = await client.post(
            "/predict", content=png(digit_pixels()), headers={"Content-Type": "image/png"}
        )
        await holding
        metrics = (await client.get("/metrics")).text
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "overloaded"
    assert int(refused.headers["retry-after"]) >= 1
    assert small.status_code == 200, small.text  # 28x28 digits never queue
    assert app.state.admission.bodies.in_use == 0
    assert 'mnist_overloaded_total{budget="bodies"} 1.0' in metrics
    assert 'mnist_inflight_capacity_bytes{budget="bodies"} 1.048576e+06' in metrics


async def test_decoding_past_the_budget_waits_then_gets_503_while_digits_pass(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(max_inflight_bytes=4 * MIB, queue_timeout_s=0.2)
    decoding = app.state.admission.decoding
    photo = noisy_png(600)  # decoded and normalised at full size: ~11 MB, over the budget
    async with serving(app) as client:
        taken = await decoding.take(decoding.capacity)  # decoding of other requests, say
        refused = await client.post("/predict", files={"files": ("photo.png", photo)})
        digit = await client.post("/predict", files={"files": ("digit.png", png(digit_pixels()))})
        decoding.give(taken)
        accepted = await client.post("/predict", files={"files": ("photo.png", photo)})
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "overloaded"
    assert "retry-after" in refused.headers
    assert digit.status_code == 200, digit.text
    assert accepted.status_code != 503, accepted.text
    assert decoding.in_use == 0


async def test_while_draining_readiness_is_503_and_responses_close_their_connection(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()
    async with serving(app) as client:
        assert (await client.get("/health/ready")).status_code == 200
        app.state.drain.start()
        ready = await client.get("/health/ready")
        v2_ready = await client.get("/v2/health/ready")
        model_ready = await client.get(f"/v2/models/{MODEL_NAME}/ready")
        version_ready = await client.get(f"/v2/models/{MODEL_NAME}/versions/1/ready")
        live = await client.get("/health/live")
        predicted = await client.post("/predict", files={"files": ("d.png", png(digit_pixels()))})
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "draining"
    assert (v2_ready.status_code, v2_ready.json()) == (503, {"ready": False})
    assert model_ready.status_code == version_ready.status_code == 503
    # Still serving, but each connection is closed after its response so clients move away.
    assert live.status_code == predicted.status_code == 200
    assert live.headers["connection"] == predicted.headers["connection"] == "close"


async def test_while_draining_an_early_answer_waits_for_the_rest_of_the_body(
    make_app: Callable[..., FastAPI],
) -> None:
    """The connection closes after the answer: unread data would reset it under the client."""
    sent: list[int] = []

    async def slow_upload() -> AsyncIterator[bytes]:
        for index in range(5):
            await asyncio.sleep(0.05)
            sent.append(index)
            yield b"\0" * 1000

    app = make_app()
    async with serving(app) as client:
        app.state.drain.start()
        response = await client.post(
            "/models/no-such-model/predict",  # refused before the body is read
            content=slow_upload(),
            headers={"Content-Type": "image/png", "Content-Length": "5000"},
        )
    assert response.status_code == 404
    assert response.headers["connection"] == "close"
    assert sent == [0, 1, 2, 3, 4]
