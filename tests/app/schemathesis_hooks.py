"""Schemathesis hooks for the fuzz test (loaded through ``SCHEMATHESIS_HOOKS``).

Schema-valid image uploads must be real images: no JSON Schema can say "a PNG", and
schemathesis's own images are blank 1x1 pictures, which a digit service rightly refuses (422
``no_ink``). So the image parts and bodies it generates are real digits (28x28, MNIST form, so
every ``normalize`` mode accepts them) in each accepted format.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st
from PIL import Image

from tests.app.samples import digit_pixels, encode

FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/bmp": "BMP",
    "image/gif": "GIF",
    "image/tiff": "TIFF",
    "image/webp": "WEBP",
}


def digits(image_format: str) -> list[bytes]:
    return [encode(Image.fromarray(digit_pixels(seed)), image_format) for seed in range(8)]


for media_type, image_format in FORMATS.items():
    schemathesis.openapi.media_type(media_type, st.sampled_from(digits(image_format)))
schemathesis.openapi.media_type("image/*", st.sampled_from(digits("PNG")))
