"""POST /predict with every kind of image: formats and pixel modes accepted, bad images refused."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.app.errors_shape import assert_error, assert_still_serving
from tests.app.samples import digit_pixels, encode, png, png_claiming_size

pytestmark = pytest.mark.anyio


async def model_input(client: httpx.AsyncClient, data: bytes, name: str = "x") -> np.ndarray:
    """Upload one image under the strict contract and return the 28x28 array the model saw."""
    response = await client.post(
        "/predict",
        params={"return_input": "true", "normalize": "never"},
        files={"files": (name, data, "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    encoded = response.json()["predictions"][0]["input_image"]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))))


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "GIF", "WEBP"])
async def test_lossless_formats_reach_the_model_unchanged(
    client: httpx.AsyncClient, fmt: str
) -> None:
    pixels = digit_pixels(seed=11)
    options = {"lossless": True} if fmt == "WEBP" else {}
    seen = await model_input(client, encode(Image.fromarray(pixels), fmt, **options))
    np.testing.assert_array_equal(seen, pixels)


async def test_jpeg_is_accepted(client: httpx.AsyncClient) -> None:
    pixels = digit_pixels(seed=12)
    seen = await model_input(client, encode(Image.fromarray(pixels), "JPEG", quality=95))
    assert np.abs(seen.astype(int) - pixels).mean() < 8


async def test_sixteen_bit_png_is_rescaled_to_eight_bits(client: httpx.AsyncClient) -> None:
    pixels = digit_pixels(seed=13)
    wide = pixels.astype(np.uint16) * 257  # 0..255 -> 0..65535 exactly
    data = png_bytes_of(Image.fromarray(wide))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    np.testing.assert_array_equal(await model_input(client, data), pixels)


async def test_palette_image_is_looked_up(client: httpx.AsyncClient) -> None:
    pixels = digit_pixels(seed=14)
    # Palette entry i holds grey 255 - i, so using the indices as grey levels would be wrong.
    paletted = Image.frombytes("P", (28, 28), (255 - pixels).tobytes())
    paletted.putpalette([value for i in range(256) for value in (255 - i,) * 3])
    data = png_bytes_of(paletted)
    assert Image.open(io.BytesIO(data)).mode == "P"
    np.testing.assert_array_equal(await model_input(client, data), pixels)


async def test_rgb_becomes_luminance(client: httpx.AsyncClient) -> None:
    pixels = digit_pixels(seed=15)
    rgb = np.zeros((28, 28, 3), np.uint8)
    rgb[..., 0] = pixels  # pure red ink: luma is 299/1000 of it
    seen = await model_input(client, png_bytes_of(Image.fromarray(rgb)))
    np.testing.assert_array_equal(seen, np.asarray(Image.fromarray(rgb).convert("L")))
    assert 0 < seen.max() < 100


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
async def test_alpha_is_composited_on_black(client: httpx.AsyncClient, mode: str) -> None:
    pixels = digit_pixels(seed=16)
    # White everywhere, opaque only where the digit is: transparent means background.
    rgba = np.full((28, 28, 4), 255, np.uint8)
    rgba[..., 3] = pixels
    seen = await model_input(client, png_bytes_of(Image.fromarray(rgba).convert(mode)))
    np.testing.assert_array_equal(seen, pixels)


async def test_cmyk_jpeg_is_accepted(client: httpx.AsyncClient) -> None:
    pixels = digit_pixels(seed=17)
    cmyk = Image.fromarray(pixels).convert("RGB").convert("CMYK")
    data = encode(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    seen = await model_input(client, data)
    assert np.abs(seen.astype(int) - pixels).mean() < 8


async def test_animated_gif_uses_its_first_frame(client: httpx.AsyncClient) -> None:
    first, second = digit_pixels(seed=18), np.flipud(digit_pixels(seed=19))
    frames = [Image.fromarray(first), Image.fromarray(second)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    assert getattr(Image.open(buffer), "n_frames", 1) == 2
    np.testing.assert_array_equal(await model_input(client, buffer.getvalue()), first)


async def test_not_an_image(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/predict",
        content=b"%PDF-1.4 definitely not a picture",
        headers={"Content-Type": "image/png"},
    )
    assert_error(response, 422, "not_an_image")
    await assert_still_serving(client)


async def test_truncated_png(client: httpx.AsyncClient) -> None:
    data = png(digit_pixels(seed=20))
    response = await client.post("/predict", files={"files": ("cut.png", data[: len(data) // 2])})
    error = assert_error(response, 422, "truncated_image")
    assert "cut.png" in error["message"]
    await assert_still_serving(client)


async def test_wrong_size_says_received_and_expected(client: httpx.AsyncClient) -> None:
    data = png(np.zeros((28, 32), np.uint8))
    response = await client.post(
        "/predict?normalize=never", content=data, headers={"Content-Type": "image/png"}
    )
    error = assert_error(response, 422, "wrong_image_size")
    assert "32x28" in error["message"]
    assert "28x28" in error["message"]
    assert error["details"] == {"received": [32, 28], "expected": [28, 28]}
    await assert_still_serving(client)


@pytest.mark.parametrize("side", [50_000, 5_000])
async def test_decompression_bomb_rejected_from_its_header(
    client: httpx.AsyncClient, side: int
) -> None:
    # The file holds 64 bytes of pixel data: decoding would report it truncated, so
    # "image_too_large" proves the size was refused from the header, before decoding.
    response = await client.post(
        "/predict", content=png_claiming_size(side, side), headers={"Content-Type": "image/png"}
    )
    error = assert_error(response, 422, "image_too_large")
    assert "too large" in error["message"] or str(side) in error["message"]
    await assert_still_serving(client)


@pytest.mark.parametrize("normalize", ["auto", "always", "never"])
async def test_an_image_without_ink_is_refused_not_guessed(
    client: httpx.AsyncClient, normalize: str
) -> None:
    response = await client.post(
        f"/predict?normalize={normalize}",
        content=png(np.zeros((28, 28), np.uint8)),
        headers={"Content-Type": "image/png"},
    )
    error = assert_error(response, 422, "no_ink")
    assert "no ink" in error["message"]
    await assert_still_serving(client)


async def test_float_pixels_keep_their_grey_levels(client: httpx.AsyncClient) -> None:
    pixels = digit_pixels(seed=17)
    floats = Image.fromarray(pixels.astype(np.float32))
    seen = await model_input(client, encode(floats, "TIFF"))
    np.testing.assert_array_equal(seen, pixels)


async def test_error_in_a_later_file_names_it(client: httpx.AsyncClient) -> None:
    good = png(digit_pixels())
    response = await client.post(
        "/predict",
        files=[("files", ("good.png", good)), ("files", ("bad.png", b"not an image"))],
    )
    error = assert_error(response, 422, "not_an_image")
    assert error["message"].startswith("files[1] ('bad.png')")
    assert error["details"] == {"index": 1, "filename": "bad.png"}


def png_bytes_of(image: Image.Image) -> bytes:
    """``image`` as PNG, keeping its pixel mode."""
    return encode(image, "PNG")


async def test_palette_transparency_is_background(client: httpx.AsyncClient) -> None:
    pixels = digit_pixels(seed=21)
    paletted = Image.frombytes("P", (28, 28), pixels.tobytes())
    paletted.putpalette([value for i in range(256) for value in (i,) * 3])
    paletted.info["transparency"] = 255  # the brightest ink entry is see-through
    data = png_bytes_of(paletted)
    assert "transparency" in Image.open(io.BytesIO(data)).info
    np.testing.assert_array_equal(
        await model_input(client, data), np.where(pixels == 255, 0, pixels)
    )
