"""``POST /predict?normalize=...``: real-world uploads reach the model in MNIST form."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
from PIL import Image

from app.images.normalize import NormalizeMode, prepare
from tests.app.samples import encode, mnist_test_set, png

pytestmark = pytest.mark.anyio


async def predict_one(client: httpx.AsyncClient, data: bytes, normalize: str) -> dict[str, object]:
    response = await client.post(
        "/predict",
        params={"normalize": normalize, "return_input": "true"},
        content=data,
        headers={"Content-Type": "image/png"},
    )
    assert response.status_code == 200, response.text
    prediction: dict[str, object] = response.json()["predictions"][0]
    return prediction


def seen(prediction: dict[str, object]) -> np.ndarray:
    encoded = prediction["input_image"]
    assert isinstance(encoded, str)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))))


async def test_auto_passes_an_mnist_digit_through_unchanged(client: httpx.AsyncClient) -> None:
    images, _ = mnist_test_set(3)
    for pixels in images:
        prediction = await predict_one(client, png(pixels), "auto")
        assert prediction["normalized"] is False
        np.testing.assert_array_equal(seen(prediction), pixels)


@pytest.mark.parametrize("normalize", ["auto", "always"])
async def test_a_large_dark_on_light_upload_is_normalised(
    client: httpx.AsyncClient, normalize: str
) -> None:
    images, _ = mnist_test_set(1)
    paper = Image.fromarray(255 - images[0]).resize((280, 280), Image.Resampling.BICUBIC)
    prediction = await predict_one(client, encode(paper), normalize)

    assert prediction["normalized"] is True
    expected = prepare(paper, NormalizeMode(normalize)).pixels
    np.testing.assert_array_equal(seen(prediction), expected)
    # Light ink on a dark field again, like the original digit.
    assert seen(prediction)[0].max() == 0
    assert seen(prediction).max() > 200


async def test_always_normalises_even_an_mnist_digit(client: httpx.AsyncClient) -> None:
    images, _ = mnist_test_set(1)
    prediction = await predict_one(client, png(images[0]), "always")
    assert prediction["normalized"] is True


async def test_an_unknown_mode_is_a_clear_422(client: httpx.AsyncClient) -> None:
    images, _ = mnist_test_set(1)
    response = await client.post(
        "/predict?normalize=sometimes",
        content=png(images[0]),
        headers={"Content-Type": "image/png"},
    )
    assert response.status_code == 422
    assert "normalize" in response.json()["error"]["message"]
