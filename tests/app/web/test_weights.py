"""GET /weights, /weights.png and /weights/{digit}.png."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from app.web.weight_maps import WeightMaps, diverging_colors
from tests.app.conftest import known_weights
from tests.app.errors_shape import assert_error

pytestmark = pytest.mark.anyio


def as_rgb(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB")).astype(int)


def test_colour_map_keeps_negative_zero_and_positive_apart() -> None:
    negative, zero, positive = diverging_colors([-1.0, 0.0, 1.0], limit=1.0).astype(int)
    assert negative[0] > negative[2] + 50  # red
    assert positive[2] > positive[0] + 50  # blue
    assert min(zero) > 230  # near white
    assert max(zero) - min(zero) < 5  # and neutral
    ramp = diverging_colors(np.linspace(-1, 1, 101), limit=1.0).astype(int)
    assert (ramp[:50, 0] > ramp[:50, 2]).all()
    assert (ramp[51:, 2] > ramp[51:, 0]).all()
    # Lightness rises towards zero and falls away from it: the magnitude reads at a glance.
    lightness = ramp.sum(axis=1)
    assert (np.diff(lightness[:51]) >= 0).all()
    assert (np.diff(lightness[50:]) <= 0).all()


def test_outliers_do_not_wash_out_the_maps() -> None:
    weights = np.tile(np.linspace(-0.5, 0.5, 784, dtype=np.float32)[:, np.newaxis], (1, 10))
    weights[0, 0] = 50.0  # one extreme weight
    maps = WeightMaps(weights)
    assert maps.clipped
    assert maps.limit < 0.6
    tile = as_rgb(maps.digit_png(0, 1))
    # The outlier takes the end colour; ordinary weights keep their full range of colours.
    np.testing.assert_array_equal(tile[0, 0], diverging_colors([1.0], 1.0)[0])
    np.testing.assert_array_equal(tile[27, 27], diverging_colors([0.5], maps.limit)[0])
    assert len({tuple(pixel) for pixel in tile.reshape(-1, 3)}) > 100


async def test_weights_json_summarises_the_model(client: httpx.AsyncClient) -> None:
    weights, bias = known_weights()
    response = await client.get("/weights")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["shape"] == {"W": [784, 10], "b": [10]}
    assert body["image_shape"] == [28, 28]
    assert body["range"] == {"min": float(weights.min()), "max": float(weights.max())}
    assert [d["digit"] for d in body["digits"]] == list(range(10))
    assert [d["range"]["max"] for d in body["digits"]] == weights.max(axis=0).tolist()
    assert [d["bias"] for d in body["digits"]] == bias.tolist()
    assert body["W"] is None
    assert body["b"] is None


async def test_weights_json_with_values(client: httpx.AsyncClient) -> None:
    weights, bias = known_weights()
    body = (await client.get("/weights", params={"values": "true"})).json()
    np.testing.assert_array_equal(np.asarray(body["W"], np.float32), weights)
    np.testing.assert_array_equal(np.asarray(body["b"], np.float32), bias)


async def test_digit_map_shows_each_weight_in_its_colour(client: httpx.AsyncClient) -> None:
    weights, _ = known_weights()
    response = await client.get("/weights/3.png", params={"scale": 2})

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    pixels = as_rgb(response.content)
    assert pixels.shape == (56, 56, 3)
    limit = float(np.percentile(np.abs(weights), 99))  # the documented end of the scale
    expected = diverging_colors(weights[:, 3].reshape(28, 28), limit)
    np.testing.assert_array_equal(pixels[::2, ::2], expected)
    strongest, weakest = (
        np.unravel_index(weights[:, 3].argmax(), (28, 28)),
        np.unravel_index(weights[:, 3].argmin(), (28, 28)),
    )
    blue_minus_red = pixels[..., 2] - pixels[..., 0]
    assert blue_minus_red[strongest[0] * 2, strongest[1] * 2] > 50
    assert blue_minus_red[weakest[0] * 2, weakest[1] * 2] < -50


async def test_grid_has_the_ten_maps_in_order(client: httpx.AsyncClient) -> None:
    weights, _ = known_weights()
    maps = WeightMaps(weights)
    grid = as_rgb((await client.get("/weights.png", params={"scale": 3})).content)

    for digit, (left, top) in enumerate(maps.tile_origins(3)):
        tile = as_rgb(maps.digit_png(digit, 3))
        np.testing.assert_array_equal(grid[top : top + 84, left : left + 84], tile)
    # Below the maps: labels and the colour bar, drawn in dark ink and in both colours.
    below = grid[3 + 84 + 2 :]
    assert (below.sum(axis=2) < 150).any()
    assert (below[..., 0] - below[..., 2] > 50).any()
    assert (below[..., 2] - below[..., 0] > 50).any()


async def test_scale_sets_the_size(client: httpx.AsyncClient) -> None:
    small = Image.open(io.BytesIO((await client.get("/weights.png", params={"scale": 1})).content))
    large = Image.open(io.BytesIO((await client.get("/weights.png", params={"scale": 8})).content))
    assert large.width > 7 * small.width // 2
    assert large.height > small.height
    default = Image.open(io.BytesIO((await client.get("/weights.png")).content))
    assert small.width < default.width < large.width


@pytest.mark.parametrize("digit", ["10", "12", "-1", "x", "3x"])
async def test_unknown_digit(client: httpx.AsyncClient, digit: str) -> None:
    error = assert_error(await client.get(f"/weights/{digit}.png"), 404, "unknown_digit")
    assert "0-9" in error["message"]


@pytest.mark.parametrize("scale", ["0", "17", "big"])
async def test_invalid_scale(client: httpx.AsyncClient, scale: str) -> None:
    error = assert_error(
        await client.get("/weights.png", params={"scale": scale}), 422, "invalid_request"
    )
    assert "scale" in error["message"]
