"""POST /predict through the micro-batcher, and GET /metrics, over the real app's HTTP layer.

These tests run the app's lifespan (which creates the batcher once the model is ready), while
the shared ``client`` fixture talks to an app without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio
import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from app.contract import Pixels, Probabilities
from app.runtime.servable import Servable
from tests.app.conftest import serving
from tests.app.samples import digit_pixels, mnist_test_set, png

pytestmark = pytest.mark.anyio
GUARD_SECONDS = 60  # a deadlock guard, not a speed target


def metric_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_concurrent_requests_share_model_calls_and_get_their_own_answers(
    make_app: Callable[..., FastAPI], servable: Servable, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = list(mnist_test_set()[0][:6])
    real = servable.probabilities
    expected = real(np.stack(images))
    # Distinct answers, so that a caller handed another caller's row would be caught.
    assert len({row.tobytes() for row in expected}) == len(images)
    batches: list[int] = []
    recording = False  # from once the app has loaded (and warmed up) its model

    def recording_model(pixels: Pixels) -> Probabilities:
        if recording:
            batches.append(len(pixels))
        return real(pixels)

    # Every servable's model function: the app below loads its own, and hands it to its batcher.
    monkeypatch.setattr(Servable, "probabilities", lambda _, pixels: recording_model(pixels))
    # The sixth image fills the batch, which then leaves at once; the (longest allowed) wait
    # only has to outlast the six requests reaching the batcher, a few event-loop passes apart.
    app = make_app(batching_enabled=True, batch_max_size=len(images), batch_max_wait_us=1_000_000)

    async def post(pixels: Pixels) -> httpx.Response:
        return await client.post("/predict", files={"files": ("d.png", png(pixels), "image/png")})

    async with serving(app) as client:
        recording = True
        with anyio.fail_after(GUARD_SECONDS):
            responses = await asyncio.gather(*(post(pixels) for pixels in images))
            exposition = (await client.get("/metrics")).text

    assert [r.status_code for r in responses] == [200] * len(images)
    predictions = [r.json()["predictions"][0] for r in responses]
    assert [p["digit"] for p in predictions] == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose([p["probabilities"] for p in predictions], expected, rtol=1e-6)
    assert batches == [len(images)]
    found = metric_samples(exposition)
    assert found["mnist_batch_size_count", frozenset()] == len(batches)
    assert found["mnist_batch_size_sum", frozenset()] == sum(batches)
    assert found["mnist_batch_size_bucket", frozenset({("le", "4.0")})] == 0
    assert found["mnist_batch_size_bucket", frozenset({("le", "8.0")})] == 1


async def test_metrics_count_requests_predictions_and_the_model(
    make_app: Callable[..., FastAPI], servable: Servable
) -> None:
    pixels = [digit_pixels(seed) for seed in range(3)]
    digits = servable.predict(np.stack(pixels)).digits.tolist()
    async with serving(make_app()) as client:
        files = [("files", (f"{i}.png", png(p), "image/png")) for i, p in enumerate(pixels)]
        assert (await client.post("/predict", files=files)).status_code == 200
        raw = await client.post(
            "/predict", content=png(pixels[0]), headers={"Content-Type": "image/png"}
        )
        assert raw.status_code == 200
        refused = await client.post("/predict", content=b"", headers={"Content-Type": "image/png"})
        assert refused.status_code == 400
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = metric_samples(response.text)

    def requests(status: str) -> float:
        labels = {("method", "POST"), ("route", "/predict"), ("status", status)}
        return found["http_requests_total", frozenset(labels)]

    assert requests("200") == 2
    assert requests("400") == 1
    for digit in range(10):
        expected = digits.count(digit) + (digit == digits[0])
        assert found["mnist_predictions_total", frozenset({("digit", str(digit))})] == expected
    by_version = frozenset({("model", servable.name), ("version", str(servable.version))})
    assert found["mnist_model_requests_total", by_version] == 2
    assert found["mnist_model_versions_loaded", frozenset({("model", servable.name)})] == 1
    assert found["process_resident_memory_bytes", frozenset()] > 0
    latency = frozenset({("method", "POST"), ("route", "/predict")})
    assert found["http_request_duration_seconds_count", latency] == 3
    # Without the batcher every request is one model call: a batch of 3 images, then of 1.
    assert found["mnist_batch_size_count", frozenset()] == 2
    assert found["mnist_batch_size_sum", frozenset()] == 4
