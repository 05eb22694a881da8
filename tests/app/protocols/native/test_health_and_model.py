"""GET /health/live, /health/ready and /model, with the model loaded and before it is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from app.runtime.servable import ModelRuntime
from tests.app.conftest import METADATA, MODEL_NAME
from tests.app.errors_shape import assert_error
from tests.app.samples import digit_pixels, png

pytestmark = pytest.mark.anyio


@pytest.fixture
async def unready(model_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app whose model has not been loaded (its lifespan has not run)."""
    runtime = ModelRuntime(model_dir / MODEL_NAME, MODEL_NAME)
    app = create_app(Settings(model_dir=model_dir), runtime=runtime)
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
    assert response.json() == {"status": "ready", "model": {"name": MODEL_NAME, "version": 1}}


async def test_not_ready_until_loaded(unready: httpx.AsyncClient) -> None:
    assert (await unready.get("/health/live")).status_code == 200
    assert_error(await unready.get("/health/ready"), 503, "model_not_ready")
    assert_error(await unready.get("/model"), 503, "model_not_ready")
    response = await unready.post(
        "/predict", content=png(digit_pixels()), headers={"Content-Type": "image/png"}
    )
    assert_error(response, 503, "model_not_ready")


async def test_lifespan_loads_the_model_once(model_dir: Path) -> None:
    app = create_app(Settings(model_dir=model_dir))
    runtime: ModelRuntime = app.state.runtime
    assert not runtime.ready
    async with app.router.lifespan_context(app):
        assert runtime.ready
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/health/ready")).status_code == 200


async def test_model_describes_signature_and_metadata(client: httpx.AsyncClient) -> None:
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
    assert body["metadata"] == METADATA
    assert body["metadata"]["test_accuracy"] == pytest.approx(0.9213)
