"""The event loop stays free: slow uploads and blocking work do not hold up other requests.

Each test makes one request wait on a condition that only a *second*, concurrent request can
satisfy. If the first request blocked the event loop, the second could never be answered and
the test would fail on its deadlock guard instead of passing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI

import app.batch
import app.dataplane
from tests.app.conftest import serving
from tests.app.samples import digit_pixels, png

pytestmark = pytest.mark.anyio

# Generous deadlock guards, not speed targets: the tests pass in milliseconds or not at all.
DEADLOCK_GUARD_SECONDS = 60


async def test_slow_upload_does_not_stall_other_requests(client: httpx.AsyncClient) -> None:
    reading, answered = asyncio.Event(), asyncio.Event()
    data = png(digit_pixels())

    async def slow_body() -> AsyncIterator[bytes]:
        yield data[:10]
        reading.set()  # the server has taken the first chunk and asked for more
        await answered.wait()  # the client "stalls" until another request has been served
        yield data[10:]

    with anyio.fail_after(DEADLOCK_GUARD_SECONDS):
        upload = asyncio.create_task(
            client.post("/predict", content=slow_body(), headers={"Content-Type": "image/png"})
        )
        await reading.wait()
        live = await client.get("/health/live")
        assert live.status_code == 200
        assert not upload.done()
        answered.set()
        assert (await upload).status_code == 200


async def test_decoding_and_inference_of_larger_uploads_run_off_the_event_loop(
    make_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Uploads above inline_work_max_bytes go to a worker thread; 0 sends every upload there.
    entered, release = threading.Event(), threading.Event()
    real: Callable[..., Any] = app.batch.predict_uploads

    def blocking_predict(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        # On the event loop thread this wait would freeze the server until the guard expires.
        if not release.wait(DEADLOCK_GUARD_SECONDS):
            raise AssertionError("predict_uploads blocked the event loop")
        return real(*args, **kwargs)

    # The data plane calls it by the name it imported.
    monkeypatch.setattr(app.dataplane, "predict_uploads", blocking_predict)
    async with serving(make_app(inline_work_max_bytes=0)) as client:
        with anyio.fail_after(DEADLOCK_GUARD_SECONDS * 2):
            upload = asyncio.create_task(
                client.post(
                    "/predict", content=png(digit_pixels()), headers={"Content-Type": "image/png"}
                )
            )
            # Only a free event loop gets here while predict_uploads is still held.
            assert await anyio.to_thread.run_sync(entered.wait, DEADLOCK_GUARD_SECONDS)
            live = await client.get("/health/live")
            assert live.status_code == 200
            assert not upload.done()
            release.set()
            assert (await upload).status_code == 200
