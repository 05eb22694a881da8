"""Shared fixtures: one small exported model and one loaded runtime per test session.

TensorFlow is imported only here (once), to export a SavedModel with known weights through the
training package's own model class, exactly as training exports the real one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.runtime.servable import ModelRuntime

MODEL_NAME = "mnist"
METADATA = {
    "name": MODEL_NAME,
    "version": 1,
    "test_accuracy": 0.9213,
    "per_class_accuracy": [0.9] * 10,
    "hyperparameters": {"optimizer": "sgd", "learning_rate": 0.5},
}


def known_weights() -> tuple[np.ndarray[Any, np.dtype[np.float32]], np.ndarray[Any, Any]]:
    """Weights with every sign and a clear winner per image: W [784, 10] and b [10]."""
    rng = np.random.default_rng(7)
    weights = rng.normal(0.0, 0.05, size=(784, 10)).astype(np.float32)
    bias = np.linspace(-0.2, 0.2, 10, dtype=np.float32)
    return weights, bias


def export_model(folder: Path, weights: np.ndarray[Any, Any], bias: np.ndarray[Any, Any]) -> Path:
    """Export a SavedModel with these parameters plus its metadata.json into ``folder``."""
    import tensorflow as tf

    from training.model import SoftmaxRegression

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
def runtime(model_dir: Path) -> ModelRuntime:
    """The test model, loaded once for the whole session."""
    loaded = ModelRuntime(model_dir / MODEL_NAME, MODEL_NAME)
    loaded.load()
    return loaded


@pytest.fixture(scope="session")
def make_app(model_dir: Path, runtime: ModelRuntime) -> Callable[..., FastAPI]:
    """An app over the shared runtime, with settings overridden by keyword."""

    def make(**overrides: Any) -> FastAPI:
        return create_app(Settings(model_dir=model_dir, **overrides), runtime=runtime)

    return make


@pytest.fixture(scope="session")
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    """The app with default settings."""
    return make_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


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
