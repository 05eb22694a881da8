"""Shared fixtures: one small exported model, compiled once per session into a shared cache.

TensorFlow is imported only here (once), to export a SavedModel with known weights through the
training package's own model class, exactly as training exports the real one.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.observability.logs import JsonFormatter
from app.runtime.cache import CompileCache
from app.runtime.loader import LoadRequest, ModelLoader
from app.runtime.servable import Servable
from tests.app.saved_models import export_mlp_model

MODEL_NAME = "mnist"
MLP_NAME = "mnist-mlp"
METADATA = {
    "name": MODEL_NAME,
    "version": 1,
    "test_accuracy": 0.9213,
    "per_class_accuracy": [0.9] * 10,
    "hyperparameters": {"optimizer": "sgd", "learning_rate": 0.5},
}


def known_weights(
    seed: int = 7,
) -> tuple[np.ndarray[Any, np.dtype[np.float32]], np.ndarray[Any, Any]]:
    """Weights with every sign and a clear winner per image: W [784, 10] and b [10]."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 0.05, size=(784, 10)).astype(np.float32)
    bias = np.linspace(-0.2, 0.2, 10, dtype=np.float32)
    return weights, bias


def export_model(folder: Path, weights: np.ndarray[Any, Any], bias: np.ndarray[Any, Any]) -> Path:
    """Export a SavedModel with these parameters plus its metadata.json into ``folder``."""
    import tensorflow as tf

    from training.models import SoftmaxRegression

    model = SoftmaxRegression()
    model.W.assign(tf.constant(weights))
    model.b.assign(tf.constant(bias))
    tf.saved_model.save(model, str(folder), signatures=model.signatures())
    (folder / "metadata.json").write_text(json.dumps(METADATA), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model repository holding version 1 of the test model."""
    root = tmp_path_factory.mktemp("model")
    export_model(root / MODEL_NAME / "1", *known_weights())
    return root


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    """A compile cache shared by the session: the test model is compiled once, then hits."""
    directory = tmp_path_factory.mktemp("compile-cache")
    loader = ModelLoader(CompileCache(directory))
    (outcome,) = loader.load([LoadRequest(MODEL_NAME, 1, model_dir / MODEL_NAME / "1")])
    assert outcome.servable is not None, outcome.error
    return directory


@pytest.fixture(scope="session")
def repository_dir(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """A repository of two models: the softmax in versions 1 and 2 (other weights), an MLP.

    Compiled once into the session's cache, so apps over it start in milliseconds.
    """
    root = tmp_path_factory.mktemp("repository")
    export_model(root / MODEL_NAME / "1", *known_weights())
    export_model(root / MODEL_NAME / "2", *known_weights(seed=8))
    export_mlp_model(root / MLP_NAME / "1")
    requests = [
        LoadRequest(MODEL_NAME, 1, root / MODEL_NAME / "1"),
        LoadRequest(MODEL_NAME, 2, root / MODEL_NAME / "2"),
        LoadRequest(MLP_NAME, 1, root / MLP_NAME / "1"),
    ]
    outcomes = ModelLoader(CompileCache(cache_dir)).load(requests)
    assert all(outcome.servable is not None for outcome in outcomes), outcomes
    return root


@pytest.fixture(scope="session")
def make_app(model_dir: Path, cache_dir: Path) -> Callable[..., FastAPI]:
    """A new app over the test repository (no polling), with settings overridden by keyword."""

    def make(**overrides: Any) -> FastAPI:
        settings = {"model_dir": model_dir, "cache_dir": cache_dir, "poll_seconds": 0}
        return create_app(Settings(**{**settings, **overrides}))

    return make


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for ``app`` with its lifespan running (the repository loaded), as under uvicorn."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    """The app with default settings."""
    return make_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process, its repository loaded."""
    async with serving(app) as http:
        yield http


@pytest.fixture
def servable(app: FastAPI, client: httpx.AsyncClient) -> Servable:
    """The default model's served version in ``app`` (loaded by the ``client`` fixture)."""
    record = app.state.registry.models[MODEL_NAME]
    assert record.newest is not None
    assert record.newest.servable is not None
    served: Servable = record.newest.servable
    return served


ReferenceAnswers = tuple[np.ndarray[Any, np.dtype[np.float32]], np.ndarray[Any, np.dtype[np.int64]]]
SavedModelReference = Callable[[np.ndarray[Any, np.dtype[np.uint8]]], ReferenceAnswers]


@pytest.fixture(scope="session")
def saved_model_reference(model_dir: Path) -> SavedModelReference:
    """TensorFlow's own answers from the test SavedModel: ``uint8 [N, 28, 28]`` -> (probabilities,
    digits), from its ``serving_default`` signature, independently of the app's runtime."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(model_dir / MODEL_NAME / "1"))

    def answers(images: np.ndarray[Any, np.dtype[np.uint8]]) -> ReferenceAnswers:
        # Looked up through ``loaded`` on each call, which keeps the model's variables alive.
        signature = loaded.signatures["serving_default"]
        outputs = signature(images=tf.constant(images, dtype=tf.uint8))
        return np.asarray(outputs["probabilities"]), np.asarray(outputs["digit"])

    return answers


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """The JSON lines the access logger writes while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("app.access")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)
