"""GET /health/live, /health/ready and /model, with the model loaded and before it is."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.repository.registry import ModelRegistry, VersionState
from tests.app.conftest import MODEL_NAME, serving
from tests.app.errors_shape import assert_error
from tests.app.samples import digit_pixels, png

pytestmark = pytest.mark.anyio


@pytest.fixture
async def unready(make_app: Callable[..., FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app whose repository has not been loaded (its lifespan has not run)."""
    app = make_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_live(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "live"}


async def test_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    model = {"name": MODEL_NAME, "version": 1}
    assert response.json() == {"status": "ready", "model": model, "models": [model]}


async def test_not_ready_until_loaded(unready: httpx.AsyncClient) -> None:
    assert (await unready.get("/health/live")).status_code == 200
    assert_error(await unready.get("/health/ready"), 503, "model_not_ready")
    # Before the first scan no model is known at all.
    assert_error(await unready.get("/model"), 404, "unknown_model")
    response = await unready.post(
        "/predict", content=png(digit_pixels()), headers={"Content-Type": "image/png"}
    )
    assert_error(response, 404, "unknown_model")


async def test_the_lifespan_loads_the_repository_and_unloads_it(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()
    registry: ModelRegistry = app.state.registry
    assert registry.models == {}
    async with serving(app) as http:
        assert (await http.get("/health/ready")).status_code == 200
        served = registry.models[MODEL_NAME].versions[1]
        assert served.state is VersionState.AVAILABLE
    assert registry.models[MODEL_NAME].versions == {}  # unloaded at shutdown


async def test_model_describes_signature_and_metadata(
    client: httpx.AsyncClient, model_dir: Path
) -> None:
    response = await client.get("/model")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == MODEL_NAME
    assert body["version"] == 1
    assert body["signature"] == {
        "name": "serving_default",
        "inputs": {"images": {"dtype": "uint8", "shape": [None, 28, 28]}},
        "outputs": {
            "digit": {"dtype": "int64", "shape": [None]},
            "logits": {"dtype": "float32", "shape": [None, 10]},
            "probabilities": {"dtype": "float32", "shape": [None, 10]},
        },
    }
    # Passed through as the version's file says (the committed model's accuracy itself is
    # measured against MNIST in tests/training/test_default_model.py).
    on_disk = json.loads((model_dir / MODEL_NAME / "1" / "metadata.json").read_text())
    assert body["metadata"] == on_disk
