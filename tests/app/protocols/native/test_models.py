"""The repository's routes: GET /models..., per-model and per-version predictions, weights."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from app.repository.registry import ModelRegistry
from tests.app.conftest import MLP_NAME, MODEL_NAME, known_weights, serving
from tests.app.errors_shape import assert_error
from tests.app.samples import mnist_test_set, png

pytestmark = pytest.mark.anyio


def softmax(images: np.ndarray[Any, Any], seed: int) -> np.ndarray[Any, Any]:
    """y = softmax(x W + b) for the test weights of that seed, computed here from scratch."""
    weights, bias = known_weights(seed)
    logits = images.reshape(len(images), -1).astype(np.float64) / 255 @ weights + bias
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


async def predict(client: httpx.AsyncClient, path: str, image: np.ndarray[Any, Any]) -> Any:
    response = await client.post(path, content=png(image), headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_models_lists_every_model_version_and_state(repo_client: httpx.AsyncClient) -> None:
    body = (await repo_client.get("/models")).json()
    assert body["default_model"] == MODEL_NAME
    assert body["version_policy"] == "all"
    models = {model["name"]: model for model in body["models"]}
    assert set(models) == {MODEL_NAME, MLP_NAME}
    mnist = models[MODEL_NAME]
    assert mnist["default"] is True
    assert mnist["ready"] is True
    assert mnist["required"] is True
    assert mnist["served_version"] == 2
    assert [(v["version"], v["state"], v["cache"]) for v in mnist["versions"]] == [
        (1, "available", "hit"),
        (2, "available", "hit"),
    ]
    assert models[MLP_NAME]["default"] is False
    assert models[MLP_NAME]["served_version"] == 1


async def test_each_route_answers_with_the_version_it_names(repo_client: httpx.AsyncClient) -> None:
    images, _ = mnist_test_set(count=4)
    for image in images:
        default = await predict(repo_client, "/predict", image)
        by_name = await predict(repo_client, f"/models/{MODEL_NAME}/predict", image)
        first = await predict(repo_client, f"/models/{MODEL_NAME}/versions/1/predict", image)
        assert default["model"] == by_name["model"] == {"name": MODEL_NAME, "version": 2}
        assert first["model"] == {"name": MODEL_NAME, "version": 1}
        for body, seed in ((default, 8), (first, 7)):
            expected = softmax(image[np.newaxis], seed)[0]
            np.testing.assert_allclose(body["predictions"][0]["probabilities"], expected, atol=1e-5)
    mlp = await predict(repo_client, f"/models/{MLP_NAME}/predict", images[0])
    assert mlp["model"] == {"name": MLP_NAME, "version": 1}


async def test_model_and_version_details(
    repo_client: httpx.AsyncClient, repository_dir: Path
) -> None:
    detail = (await repo_client.get(f"/models/{MODEL_NAME}")).json()
    assert detail["served"]["version"] == 2
    assert detail["served"]["signature"]["inputs"] == {
        "images": {"dtype": "uint8", "shape": [None, 28, 28]}
    }
    assert detail["served"]["weight_maps"] is True
    version = (await repo_client.get(f"/models/{MODEL_NAME}/versions/1")).json()
    assert (version["version"], version["state"]) == (1, "available")
    on_disk = (repository_dir / MODEL_NAME / "1" / "metadata.json").read_text()
    assert version["metadata"] == json.loads(on_disk)
    mlp = (await repo_client.get(f"/models/{MLP_NAME}/versions/1")).json()
    assert mlp["weight_maps"] is False
    assert mlp["metadata"] == {}  # exported without a training record
    legacy = (await repo_client.get("/model")).json()
    assert (legacy["name"], legacy["version"]) == (MODEL_NAME, 2)


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "listed"),
    [
        ("GET", "/models/mnist-xl", 404, "unknown_model", ["mnist", "mnist-mlp"]),
        ("GET", "/models/mnist/versions/7", 404, "unknown_version", [1, 2]),
        ("GET", "/models/mnist/versions/latest", 404, "unknown_version", [1, 2]),
        ("POST", "/models/mnist-xl/predict", 404, "unknown_model", ["mnist", "mnist-mlp"]),
        ("POST", "/models/mnist/versions/7/predict", 404, "unknown_version", [1, 2]),
        ("POST", "/models/mnist/versions/0/predict", 404, "unknown_version", None),
        ("POST", "/models/mnist/versions/two/predict", 404, "unknown_version", None),
        ("POST", "/models/mnist-xl/versions/two/predict", 404, "unknown_model", None),
        ("GET", "/models/mnist-mlp/weights.png", 404, "no_weight_maps", None),
        ("GET", "/models/mnist-mlp/weights", 404, "no_weight_maps", None),
        ("GET", "/models/mnist-xl/weights/3.png", 404, "unknown_model", None),
    ],
)
async def test_unknown_names_and_versions_are_404s_that_list_what_exists(
    repo_client: httpx.AsyncClient,
    method: str,
    path: str,
    status: int,
    code: str,
    listed: list[Any] | None,
) -> None:
    image = png(mnist_test_set(count=1)[0][0])
    response = await repo_client.request(
        method, path, content=image, headers={"Content-Type": "image/png"}
    )
    error = assert_error(response, status, code)
    if listed is not None:
        assert listed == error["details"].get("models", error["details"].get("versions"))


async def test_weight_maps_per_model(repo_client: httpx.AsyncClient) -> None:
    picture = await repo_client.get(f"/models/{MODEL_NAME}/weights.png")
    assert picture.content.startswith(b"\x89PNG")
    digit = await repo_client.get(f"/models/{MODEL_NAME}/weights/3.png")
    assert digit.content.startswith(b"\x89PNG")
    body = (await repo_client.get(f"/models/{MODEL_NAME}/weights?values=true")).json()
    assert body["model"] == {"name": MODEL_NAME, "version": 2}
    np.testing.assert_array_equal(np.array(body["W"], np.float32), known_weights(8)[0])


async def test_a_version_in_error_is_shown_and_refused_with_its_reason(
    make_app: Callable[..., FastAPI], repository_dir: Path, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(repository_dir / MODEL_NAME / "1", root / MODEL_NAME / "1")
    (root / MODEL_NAME / "3" / "variables").mkdir(parents=True)  # no saved_model.pb
    async with serving(make_app(model_dir=root)) as client:
        listed = (await client.get("/models")).json()["models"][0]["versions"]
        assert [(v["version"], v["state"]) for v in listed] == [(1, "available"), (3, "error")]
        assert "no saved_model.pb" in listed[1]["reason"]
        response = await client.post(
            f"/models/{MODEL_NAME}/versions/3/predict",
            content=png(mnist_test_set(count=1)[0][0]),
            headers={"Content-Type": "image/png"},
        )
        error = assert_error(response, 503, "model_not_ready")
        assert "is error (incomplete" in error["message"]
        assert (await client.get("/health/ready")).status_code == 200


async def test_readiness_names_the_models_it_waits_for(
    make_app: Callable[..., FastAPI], repository_dir: Path
) -> None:
    app = make_app(model_dir=repository_dir)
    async with serving(app) as client:
        ready = (await client.get("/health/ready")).json()
        assert ready["models"] == [
            {"name": MODEL_NAME, "version": 2},
            {"name": MLP_NAME, "version": 1},
        ]
        registry: ModelRegistry = app.state.registry
        registry.models[MLP_NAME].newest = None  # as if its only version had gone
        error = assert_error(await client.get("/health/ready"), 503, "model_not_ready")
        assert error["details"]["models"] == [MLP_NAME]
