"""app.imaging on its own: hostile bytes, orientation, pixel formats."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.errors import ApiError
from app.imaging import ImageLimits, decode, open_image
from app.preprocessing import NormalizeMode
from tests.app.samples import digit_pixels, encode

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
