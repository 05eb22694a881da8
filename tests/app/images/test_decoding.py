"""app.images.decoding: hostile bytes, orientation, pixel formats, the greyscale PNG path."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from app.errors import ApiError
from app.images.decoding import GreyPng, ImageLimits, decode, open_image, prepare_image, read_header
from app.images.normalize import NormalizeMode, Prepared
from tests.app.samples import digit_pixels, encode, png

LIMITS = ImageLimits(max_side=4096, max_pixels=4096 * 4096)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"])
def test_damaged_files_give_client_errors_only(fmt: str) -> None:
    """Random byte flips and cuts: every outcome is a decoded image or an API error (a 4xx)."""
    original = encode(Image.fromarray(digit_pixels()), fmt)
    rng = np.random.default_rng(len(fmt))
    statuses = set()
    for _ in range(150):
        damaged = bytearray(original)
        for position in rng.integers(0, len(damaged), size=rng.integers(1, 8)):
            damaged[position] = int(rng.integers(0, 256))
        damaged = damaged[: int(rng.integers(1, len(damaged) + 1))]
        try:
            pixels = decode(bytes(damaged), LIMITS, NormalizeMode.NEVER).pixels
        except ApiError as error:
            statuses.add(error.status)
        else:
            assert pixels.shape == (28, 28)
            assert pixels.dtype == np.uint8
    assert statuses
    assert all(400 <= status < 500 for status in statuses)


def test_exif_orientation_is_applied() -> None:
    pixels = digit_pixels(seed=30)
    pixels[2, :5] = 255  # mark the top-left corner
    upright = Image.fromarray(pixels)
    # Stored rotated, with EXIF saying "rotate 90 degrees clockwise to display" (orientation 6).
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    image = open_image(encode(stored, "PNG", exif=exif), LIMITS)
    np.testing.assert_array_equal(np.asarray(image), pixels)


def test_thirty_two_bit_integer_pixels_in_byte_range_keep_their_values() -> None:
    pixels = digit_pixels()
    wide = Image.fromarray(pixels.astype(np.int32))
    assert wide.mode == "I"
    decoded = decode(encode(wide, "TIFF"), LIMITS, NormalizeMode.NEVER)
    np.testing.assert_array_equal(decoded.pixels, pixels)


def _grey_pngs() -> dict[str, bytes]:
    """8-bit greyscale PNGs of the kinds clients send, all meant for the libspng fast path."""
    digit = digit_pixels(seed=3)
    gamma = PngImagePlugin.PngInfo()
    gamma.add(b"gAMA", struct.pack(">I", 45455))
    noise = np.random.default_rng(7).integers(0, 256, size=(100, 37), dtype=np.uint8)
    return {
        "mnist-like 28x28": png(digit),
        "28x28 with a tRNS chunk": encode(Image.fromarray(digit), transparency=0),
        "28x28 with a gAMA chunk": encode(Image.fromarray(digit), pnginfo=gamma),
        "28x28 optimised": encode(Image.fromarray(digit), optimize=True),
        "28x28 dark on light": png(255 - digit),
        "300x300 dark on light": png(np.asarray(Image.fromarray(255 - digit).resize((300, 300)))),
        "37x100 noise": png(noise),
    }


def _outcome(step: Callable[[], Prepared]) -> tuple[str, Any]:
    try:
        prepared = step()
    except ApiError as error:
        return error.code, error.message
    return "ok", (prepared.pixels.tolist(), prepared.normalized)


@pytest.mark.parametrize("name", list(_grey_pngs()))
@pytest.mark.parametrize("mode", list(NormalizeMode))
def test_greyscale_pngs_take_the_fast_path_with_pillows_results(
    name: str, mode: NormalizeMode
) -> None:
    data = _grey_pngs()[name]
    assert isinstance(read_header(data, LIMITS), GreyPng)
    fast = _outcome(lambda: decode(data, LIMITS, mode))
    with_pillow = _outcome(lambda: prepare_image(open_image(data, LIMITS), mode))
    assert fast == with_pillow


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(digit_pixels()).convert("RGB"),
        Image.fromarray(digit_pixels()).convert("P"),
        Image.fromarray(digit_pixels()).convert("1"),
        Image.fromarray(digit_pixels().astype(np.uint16) * 257),
    ],
    ids=["rgb", "palette", "one-bit", "sixteen-bit"],
)
def test_other_pngs_are_left_to_pillow(image: Image.Image) -> None:
    assert isinstance(read_header(encode(image), LIMITS), Image.Image)


def test_a_greyscale_png_with_exif_orientation_is_shown_upright() -> None:
    pixels = digit_pixels(seed=31)
    pixels[2, :5] = 255  # mark the top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored = encode(Image.fromarray(pixels).transpose(Image.Transpose.ROTATE_90), exif=exif)
    assert isinstance(read_header(stored, LIMITS), Image.Image)  # libspng would ignore EXIF
    np.testing.assert_array_equal(decode(stored, LIMITS, NormalizeMode.NEVER).pixels, pixels)


def test_a_damaged_greyscale_png_gets_pillows_verdict() -> None:
    data = png(digit_pixels())
    cut = data[: len(data) - 30]  # the end of the image data and the IEND chunk are missing
    assert isinstance(read_header(cut, LIMITS), GreyPng)
    with pytest.raises(ApiError) as caught:
        decode(cut, LIMITS, NormalizeMode.NEVER)
    assert caught.value.code == "truncated_image"
