"""The exact explanation of the softmax: contributions plus the bias are the SavedModel's logit."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
from PIL import Image

from app.explain.linear import linear_contributions
from app.runtime.servable import Servable
from tests.app.explain.conftest import Logits
from tests.app.samples import mnist_test_set, png

# TensorFlow sums 784 float32 products; the explanation sums them in float64.
ATOL = 1e-5


pytestmark = pytest.mark.anyio


async def test_contributions_are_pixel_times_weight(servable: Servable) -> None:
    assert servable.weights is not None
    pixels = np.zeros((1, 28, 28), np.uint8)
    pixels[0, 3, 5], pixels[0, 20, 9] = 255, 51
    contributions = linear_contributions(servable.weights, pixels, np.array([4]))

    weights = servable.weights.W
    assert contributions[0, 3, 5] == pytest.approx(float(weights[3 * 28 + 5, 4]))
    assert contributions[0, 20, 9] == pytest.approx(0.2 * float(weights[20 * 28 + 9, 4]))
    assert np.count_nonzero(contributions) == 2  # background contributes nothing


async def test_contributions_and_bias_sum_to_the_saved_models_logit(
    client: httpx.AsyncClient, saved_model_logits: Logits
) -> None:
    images, _ = mnist_test_set(8)
    files = [("files", (f"{i}.png", png(pixels), "image/png")) for i, pixels in enumerate(images)]
    response = await client.post("/predict?explain=true&normalize=never", files=files)

    assert response.status_code == 200, response.text
    logits = saved_model_logits(images)
    for prediction, image, row in zip(response.json()["predictions"], images, logits, strict=True):
        explanation = prediction["explanation"]
        digit = int(row.argmax())
        assert prediction["digit"] == explanation["digit"] == digit
        assert explanation["method"] == "linear"
        assert explanation["unit"] == "logit"
        evidence = np.array(explanation["evidence"])
        assert evidence.shape == (28, 28)
        assert evidence.sum() + explanation["bias"] == pytest.approx(float(row[digit]), abs=ATOL)
        assert explanation["score"] == pytest.approx(float(row[digit]), abs=ATOL)
        assert np.all(evidence[image == 0] == 0)
        assert explanation["scale"] == pytest.approx(float(np.abs(evidence).max()))
        assert explanation["patch"] is None
        assert explanation["stride"] is None
        picture = Image.open(io.BytesIO(base64.b64decode(explanation["evidence_image"])))
        assert (picture.size, picture.mode) == ((28, 28), "RGBA")
