"""``explain=true`` on the prediction routes: an evidence map per image, or a clear 422.

The softmax is explained exactly (its identity with TensorFlow's logits is in
tests/app/explain/test_linear.py); the MLP, which exports no weights, by occlusion, checked here
against the service's own plain predictions of the blanked image.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image

from app.runtime import servable as servable_module
from app.runtime.litert import CompiledModel
from tests.app.conftest import MLP_NAME, MODEL_NAME, serving
from tests.app.errors_shape import assert_error
from tests.app.samples import mnist_test_set, png

pytestmark = pytest.mark.anyio


def files_of(*images: np.ndarray[Any, Any]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"{i}.png", png(image), "image/png")) for i, image in enumerate(images)]


def log_odds(probabilities: list[float], digit: int) -> float:
    others = sum(p for index, p in enumerate(probabilities) if index != digit)
    return float(np.log(probabilities[digit]) - np.log(others))


async def test_without_explain_there_is_no_explanation(client: httpx.AsyncClient) -> None:
    image = mnist_test_set(1)[0][0]
    response = await client.post("/predict", files=files_of(image))
    assert response.status_code == 200, response.text
    assert "explanation" not in response.json()["predictions"][0]


async def test_occlusion_explains_a_model_without_weights(
    repo_client: httpx.AsyncClient,
) -> None:
    images = mnist_test_set(3)[0]
    path = f"/models/{MLP_NAME}/predict?normalize=never"
    response = await repo_client.post(f"{path}&explain=true", files=files_of(*images))

    assert response.status_code == 200, response.text
    for prediction, image in zip(response.json()["predictions"], images, strict=True):
        explanation = prediction["explanation"]
        assert explanation["method"] == "occlusion"
        assert explanation["unit"] == "log_odds"
        assert explanation["digit"] == prediction["digit"]
        assert (explanation["patch"], explanation["stride"], explanation["bias"]) == (2, 2, None)
        assert explanation["score"] == pytest.approx(
            log_odds(prediction["probabilities"], prediction["digit"]), abs=1e-4
        )
        evidence = np.array(explanation["evidence"])
        assert np.all(evidence[image == 0] == 0)
        assert np.count_nonzero(evidence) > 0

        # The strongest pixel's value is what blanking its 2x2 window does to a plain prediction.
        row, col = np.unravel_index(np.argmax(np.abs(evidence)), evidence.shape)
        blanked = image.copy()
        blanked[row // 2 * 2 : row // 2 * 2 + 2, col // 2 * 2 : col // 2 * 2 + 2] = 0
        plain = await repo_client.post(path, files=files_of(blanked))
        probabilities = plain.json()["predictions"][0]["probabilities"]
        drop = explanation["score"] - log_odds(probabilities, prediction["digit"])
        assert evidence[row, col] == pytest.approx(drop, abs=1e-3)

        picture = np.asarray(
            Image.open(io.BytesIO(base64.b64decode(explanation["evidence_image"])))
        )
        assert picture.shape == (28, 28, 4)
        assert picture[row, col, 3] == 255  # the strongest value is drawn fully opaque
        blue = picture[row, col, 2] > picture[row, col, 0]
        assert blue == (evidence[row, col] > 0)


async def test_every_route_explains(repo_client: httpx.AsyncClient) -> None:
    image = mnist_test_set(1)[0][0]
    for path in (
        "/predict",
        f"/models/{MODEL_NAME}/predict",
        f"/models/{MODEL_NAME}/versions/2/predict",
    ):
        response = await repo_client.post(
            f"{path}?explain=true&return_input=true", files=files_of(image)
        )
        assert response.status_code == 200, response.text
        [prediction] = response.json()["predictions"]
        assert prediction["explanation"]["method"] == "linear"
        assert prediction["input_image"] is not None


async def test_explain_with_micro_batching(
    make_app: Callable[..., FastAPI], repository_dir: Path
) -> None:
    image = mnist_test_set(1)[0][0]
    app = make_app(model_dir=repository_dir, batching_enabled=True)
    async with serving(app) as client:
        response = await client.post(
            f"/models/{MLP_NAME}/predict?explain=true", files=files_of(image)
        )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["explanation"]["method"] == "occlusion"


class FixedBatchModel(CompiledModel):
    """A compiled model whose input takes one fixed batch size, as some exported models do."""

    def __init__(self, flatbuffer: bytes, *, threads: int = 1) -> None:
        super().__init__(flatbuffer, threads=threads)
        self.dynamic_batch = False


async def test_a_model_that_cannot_explain_is_a_422(
    make_app: Callable[..., FastAPI], repository_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(servable_module, "CompiledModel", FixedBatchModel)
    image = mnist_test_set(1)[0][0]
    async with serving(make_app(model_dir=repository_dir)) as client:
        refused = await client.post(
            f"/models/{MLP_NAME}/predict?explain=true", files=files_of(image)
        )
        plain = await client.post(f"/models/{MLP_NAME}/predict", files=files_of(image))
        linear = await client.post(
            f"/models/{MODEL_NAME}/predict?explain=true", files=files_of(image)
        )

    error = assert_error(refused, 422, "cannot_explain")
    assert MLP_NAME in error["message"]
    assert error["details"] == {"model": MLP_NAME, "version": 1}
    assert plain.status_code == 200, plain.text  # predictions are unaffected
    assert linear.status_code == 200, linear.text  # weights need no batches


async def test_an_invalid_explain_value_is_a_422(client: httpx.AsyncClient) -> None:
    image = mnist_test_set(1)[0][0]
    response = await client.post("/predict?explain=perhaps", files=files_of(image))
    assert_error(response, 422, "invalid_request")


def test_explain_and_its_error_are_documented(make_app: Callable[..., FastAPI]) -> None:
    openapi = make_app().openapi()
    for path in ("/predict", "/models/{name}/predict", "/models/{name}/versions/{version}/predict"):
        operation = openapi["paths"][path]["post"]
        assert "explain" in {parameter["name"] for parameter in operation["parameters"]}
        examples = operation["responses"]["422"]["content"]["application/json"]["examples"]
        assert "cannot_explain" in examples
    explanation = openapi["components"]["schemas"]["Explanation"]
    assert {"method", "unit", "evidence", "evidence_image", "score"} <= set(
        explanation["properties"]
    )
