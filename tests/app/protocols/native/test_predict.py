"""POST /predict on good input: multipart, raw body, many files, all held against TensorFlow.

The expected answers come from the SavedModel run by TensorFlow (``saved_model_reference``),
not from the app's own compiled runtime, which is what these requests exercise.
"""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import MODEL_NAME, SavedModelReference
from tests.app.samples import digit_pixels, mnist_test_set, png

pytestmark = pytest.mark.anyio
# LiteRT and TensorFlow sum the same float32 products in different orders: the last bits differ.
ATOL = 1e-5


async def test_multipart_single_file(
    client: httpx.AsyncClient, saved_model_reference: SavedModelReference
) -> None:
    pixels = digit_pixels()
    response = await client.post("/predict", files={"files": ("one.png", png(pixels), "image/png")})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": MODEL_NAME, "version": 1}
    [prediction] = body["predictions"]
    probabilities, digits = saved_model_reference(pixels[np.newaxis])
    assert prediction["filename"] == "one.png"
    assert prediction["digit"] == int(digits[0])
    assert prediction["confidence"] == pytest.approx(float(probabilities[0].max()), abs=ATOL)
    np.testing.assert_allclose(prediction["probabilities"], probabilities[0], rtol=0, atol=ATOL)
    assert sum(prediction["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    assert prediction["normalized"] is False
    assert prediction["input_image"] is None


async def test_raw_body(
    client: httpx.AsyncClient, saved_model_reference: SavedModelReference
) -> None:
    pixels = digit_pixels(seed=3)
    response = await client.post(
        "/predict", content=png(pixels), headers={"Content-Type": "image/png"}
    )

    assert response.status_code == 200, response.text
    [prediction] = response.json()["predictions"]
    assert prediction["filename"] is None
    probabilities, digits = saved_model_reference(pixels[np.newaxis])
    assert prediction["digit"] == int(digits[0])
    np.testing.assert_allclose(prediction["probabilities"], probabilities[0], rtol=0, atol=ATOL)


async def test_many_files_keep_request_order(
    client: httpx.AsyncClient, saved_model_reference: SavedModelReference
) -> None:
    images, _ = mnist_test_set()
    files = [
        ("files", (f"{index}.png", png(image), "image/png")) for index, image in enumerate(images)
    ]
    response = await client.post("/predict", files=files)

    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["filename"] for p in predictions] == [f"{i}.png" for i in range(len(images))]
    probabilities, digits = saved_model_reference(images)
    assert [p["digit"] for p in predictions] == digits.tolist()
    np.testing.assert_allclose(
        [p["probabilities"] for p in predictions], probabilities, rtol=0, atol=ATOL
    )


async def test_mnist_png_gives_exactly_the_savedmodel_prediction(
    client: httpx.AsyncClient, saved_model_reference: SavedModelReference
) -> None:
    images, _ = mnist_test_set()
    expected, _ = saved_model_reference(images)
    for image, probabilities in zip(images, expected, strict=True):
        response = await client.post(
            "/predict", content=png(image), headers={"Content-Type": "image/png"}
        )
        [prediction] = response.json()["predictions"]
        assert prediction["digit"] == int(probabilities.argmax())
        # Batches of 1 and of 20 may round the last bit of a float32 differently.
        np.testing.assert_allclose(prediction["probabilities"], probabilities, rtol=1e-6, atol=0)


async def test_return_input_gives_the_image_the_model_saw(client: httpx.AsyncClient) -> None:
    pixels = digit_pixels(seed=5)
    rgb = Image.fromarray(np.stack([pixels] * 3, axis=-1))
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG")
    response = await client.post(
        "/predict",
        params={"return_input": "true"},
        files={"files": ("rgb.png", buffer.getvalue(), "image/png")},
    )

    assert response.status_code == 200, response.text
    encoded = response.json()["predictions"][0]["input_image"]
    seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))))
    np.testing.assert_array_equal(seen, pixels)
