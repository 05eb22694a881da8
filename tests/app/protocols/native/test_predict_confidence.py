"""min_confidence: below it a prediction keeps its probabilities but says digit null."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from tests.app.conftest import SavedModelReference, serving
from tests.app.errors_shape import assert_error
from tests.app.samples import mnist_test_set, png

pytestmark = pytest.mark.anyio


def uploads(count: int = 12) -> tuple[list[tuple[str, tuple[str, bytes, str]]], np.ndarray]:
    images, _ = mnist_test_set()
    chosen = images[:count]
    files = [("files", (f"{i}.png", png(image), "image/png")) for i, image in enumerate(chosen)]
    return files, chosen


def threshold_between(confidences: np.ndarray) -> float:
    """A threshold with some of these confidences below it and some above."""
    ordered = np.sort(confidences)
    middle = len(ordered) // 2
    assert ordered[middle - 1] < ordered[middle], "the sample needs distinct confidences"
    return float((ordered[middle - 1] + ordered[middle]) / 2)


async def test_predictions_below_the_threshold_say_not_sure(
    client: httpx.AsyncClient, saved_model_reference: SavedModelReference
) -> None:
    files, images = uploads()
    probabilities, digits = saved_model_reference(images)
    confidences = probabilities.max(axis=1)
    threshold = threshold_between(confidences)

    response = await client.post(f"/predict?min_confidence={threshold}", files=files)

    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    for prediction, confidence, digit, row in zip(
        predictions, confidences, digits, probabilities, strict=True
    ):
        np.testing.assert_allclose(prediction["probabilities"], row, atol=1e-5)
        if confidence < threshold:
            assert prediction["digit"] is None
            assert prediction["reason"] == "low_confidence"
        else:
            assert prediction["digit"] == digit
            assert prediction["reason"] is None
        assert prediction["confidence"] == pytest.approx(float(confidence), abs=1e-5)
    assert {p["reason"] for p in predictions} == {None, "low_confidence"}


async def test_without_a_threshold_every_prediction_has_a_digit(
    client: httpx.AsyncClient, saved_model_reference: SavedModelReference
) -> None:
    files, images = uploads()
    _, digits = saved_model_reference(images)
    for query in ("", "?min_confidence=0"):
        response = await client.post(f"/predict{query}", files=files)
        predictions = response.json()["predictions"]
        assert [p["digit"] for p in predictions] == digits.tolist()
        assert all(p["reason"] is None for p in predictions)


async def test_the_server_default_applies_until_a_request_sets_its_own(
    make_app: Callable[..., FastAPI], saved_model_reference: SavedModelReference
) -> None:
    files, images = uploads()
    probabilities, digits = saved_model_reference(images)
    threshold = threshold_between(probabilities.max(axis=1))
    async with serving(make_app(min_confidence=threshold)) as client:
        by_default = (await client.post("/predict", files=files)).json()["predictions"]
        per_model = await client.post("/models/mnist/predict", files=files)
        switched_off = await client.post("/predict?min_confidence=0", files=files)
        metrics = (await client.get("/metrics")).text
    unsure = [p["digit"] is None for p in by_default]
    assert unsure == (probabilities.max(axis=1) < threshold).tolist()
    assert [p["digit"] is None for p in per_model.json()["predictions"]] == unsure
    assert [p["digit"] for p in switched_off.json()["predictions"]] == digits.tolist()
    # Predictions per digit count the answers given, not the ones withheld.
    answered = 2 * (len(images) - sum(unsure)) + len(images)
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("mnist_predictions_total{")
    )
    assert counted == answered


@pytest.mark.parametrize("value", ["1.5", "-0.1", "abc", "nan", ""])
async def test_a_threshold_outside_zero_to_one_is_a_clear_422(
    client: httpx.AsyncClient, value: str
) -> None:
    files, _ = uploads(1)
    response = await client.post(f"/predict?min_confidence={value}", files=files)
    error = assert_error(response, 422, "invalid_request")
    assert "min_confidence" in error["message"]


def test_the_setting_is_checked_at_start_up(make_app: Callable[..., Any]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="min_confidence"):
        make_app(min_confidence=1.5)


async def test_an_explained_request_counts_only_the_answers_it_gives(
    make_app: Callable[..., FastAPI], saved_model_reference: SavedModelReference
) -> None:
    files, images = uploads()
    probabilities, _ = saved_model_reference(images)
    threshold = threshold_between(probabilities.max(axis=1))
    async with serving(make_app(min_confidence=threshold)) as client:
        response = await client.post("/predict?explain=true", files=files)
        metrics = (await client.get("/metrics")).text
    predictions = response.json()["predictions"]
    assert all("explanation" in p for p in predictions)
    answered = sum(p["digit"] is not None for p in predictions)
    assert 0 < answered < len(images)
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("mnist_predictions_total{")
    )
    assert counted == answered
