"""Uploaded bytes -> Pillow image -> the model's ``uint8 [28, 28]`` input, safely.

Safety first: the pixel dimensions are read from the header and checked against the limits
*before* anything is decoded (a 100-byte PNG can claim 50,000x50,000 pixels), only the formats
the API promises are opened (no EPS/PSD parsers reachable from the network), and truncated data
is an error rather than a half-grey image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import (
    EmptyFileError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedImageModeError,
    WrongImageSizeError,
)

MNIST_SIZE = 28
ACCEPTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")
_FORMAT_NAMES = "PNG, JPEG, BMP, GIF, TIFF or WebP"

Pixels = npt.NDArray[np.uint8]

# Pixel formats whose samples are 16-bit unsigned integers (16-bit PNG and TIFF greyscale).
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
# Pixel formats with an alpha channel (or palette transparency) to composite on black.
_ALPHA = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# Pixel formats Pillow can turn into RGB, and from there into luminance.
_COLOUR = frozenset({"RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "P", "1"})


@dataclass(frozen=True)
class ImageLimits:
    """The largest image accepted, checked from the header before decoding."""

    max_side: int
    max_pixels: int


def open_image(data: bytes, limits: ImageLimits) -> Image.Image:
    """Decode the first frame of an image, refusing oversized or damaged ones."""
    if not data:
        raise EmptyFileError("the file is empty")
    try:
        # open() only parses the header; nothing is decoded until load().
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"the image is too large to decode: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise NotAnImageError(f"the data is not a {_FORMAT_NAMES} image") from exc
    except Exception as exc:
        # Pillow's format plugins raise many types on hostile input; all mean a broken file.
        raise TruncatedImageError(f"the image header is corrupt: {exc}") from exc
    _check_limits(image.size, limits)
    try:
        # Multi-frame formats (animated GIF/WebP, multi-page TIFF) start on frame 0.
        image.load()
        # Show the picture the way the camera or editor meant it to be seen.
        ImageOps.exif_transpose(image, in_place=True)
    except Exception as exc:
        raise TruncatedImageError(
            f"the {image.format} data is truncated or corrupt: {exc}"
        ) from exc
    return image


def _check_limits(size: tuple[int, int], limits: ImageLimits) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise NotAnImageError(f"the image header claims an empty {width}x{height} image")
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}x{height} pixels; at most {limits.max_side} pixels per side"
            f" and {limits.max_pixels} pixels in all are accepted",
            details={"received": [width, height], "max_side": limits.max_side},
        )


def require_mnist_size(image: Image.Image) -> None:
    """Raise :class:`WrongImageSizeError` unless the image is 28x28."""
    if image.size != (MNIST_SIZE, MNIST_SIZE):
        width, height = image.size
        raise WrongImageSizeError(
            f"the image is {width}x{height} pixels; expected {MNIST_SIZE}x{MNIST_SIZE}",
            details={"received": [width, height], "expected": [MNIST_SIZE, MNIST_SIZE]},
        )


def to_luminance(image: Image.Image) -> Pixels:
    """Grey levels ``uint8 [H, W]``: 16-bit rescaled, colour to luma, alpha composited on black.

    Colour uses Pillow's ITU-R BT.601 ``"L"`` conversion, so a grey RGB image gives exactly the
    grey values. Transparent pixels become background (0) whatever colour they store.
    """
    mode = image.mode
    if mode == "L":
        return np.asarray(image, dtype=np.uint8)
    if mode in _SIXTEEN_BIT:
        wide = np.asarray(image).astype(np.uint32)
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    if mode in _ALPHA or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        luma = np.asarray(rgba.convert("L"), dtype=np.uint16)
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.uint16)
        return ((luma * alpha + 127) // 255).astype(np.uint8)
    if mode in _COLOUR:
        return np.asarray(image.convert("RGB").convert("L"), dtype=np.uint8)
    raise UnsupportedImageModeError(f"images with pixel format {mode!r} are not supported")


def decode_mnist(data: bytes, limits: ImageLimits) -> Pixels:
    """The strict contract: a 28x28 image in MNIST polarity, as the model's input array."""
    image = open_image(data, limits)
    require_mnist_size(image)
    return to_luminance(image)


def encode_png(pixels: Pixels) -> bytes:
    """A greyscale PNG of ``uint8 [H, W]`` pixels."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
