"""Luminance of an uploaded image: one float32 grey level per pixel in 0..255.

Every Pillow mode a user is likely to upload is reduced to the same thing, the light intensity
the model will eventually see. Colour uses the ITU-R BT.601 weights that Pillow's own ``"L"``
conversion uses, so a grey RGB image and the same image saved as ``"L"`` give identical values.

Transparency needs a decision, because the colour stored in a fully transparent pixel is
arbitrary (drawing apps leave anything there, often black, sometimes noise):

- ``strict=True`` composites on black, which is what the 28x28 MNIST contract means: whatever
  is not painted is background (0).
- ``strict=False`` composites on the grey level that contrasts with the painted pixels, so that
  black ink on a transparent canvas and white ink on a transparent canvas both come out as ink on
  a uniform background, whatever garbage the transparent pixels hold.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

FloatImage = npt.NDArray[np.float32]

# Modes whose samples are 16-bit unsigned integers.
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
# Modes that carry an alpha channel Pillow can convert to RGBA.
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "PA"})
_WHITE = 255.0
_SIXTEEN_TO_EIGHT_BIT = 65535.0 / 255.0


class UnsupportedModeError(ValueError):
    """The image's pixel format cannot be turned into grey levels."""

    code = "unsupported_image_mode"

    def __init__(self, mode: str) -> None:
        super().__init__(f"images in pixel format {mode!r} are not supported")
        self.mode = mode


def to_luminance(image: Image.Image, *, strict: bool) -> FloatImage:
    """Grey levels ``float32 [H, W]`` in 0..255 of any supported Pillow image.

    ``strict`` chooses how transparency is flattened (see the module docstring).
    """
    mode = image.mode
    if mode == "L":
        return np.asarray(image, dtype=np.float32)
    if mode == "1":
        return np.asarray(image.convert("L"), dtype=np.float32)
    if mode in _SIXTEEN_BIT_MODES:
        return (np.asarray(image).astype(np.float32) / _SIXTEEN_TO_EIGHT_BIT).astype(np.float32)
    if mode in ("I", "F"):
        return _wide_to_eight_bit(np.asarray(image).astype(np.float64))
    if mode in _ALPHA_MODES or (mode == "P" and _palette_has_transparency(image)):
        rgba = np.asarray(_convert(image, "RGBA"))
        return _flatten_alpha(_rgb_luminance(rgba[..., :3]), rgba[..., 3], strict=strict)
    return _rgb_luminance(np.asarray(image if mode == "RGB" else _convert(image, "RGB")))


def _convert(image: Image.Image, mode: str) -> Image.Image:
    try:
        return image.convert(mode)
    except (ValueError, OSError) as exc:
        raise UnsupportedModeError(image.mode) from exc


def _palette_has_transparency(image: Image.Image) -> bool:
    palette = image.palette
    return "transparency" in image.info or (palette is not None and palette.mode == "RGBA")


def _wide_to_eight_bit(values: npt.NDArray[np.float64]) -> FloatImage:
    # Pillow stores 16-bit greyscale (older PNG plugins, TIFF, conversions) in the 32-bit "I"
    # container. Values beyond the 8-bit range can only mean 16-bit data; 8-bit data that went
    # through convert("I") stays as it is. Float ("F") images within 0..1 are in unit scale.
    peak = float(values.max()) if values.size else 0.0
    if peak > _WHITE:
        values = values / _SIXTEEN_TO_EIGHT_BIT
    elif 0.0 < peak <= 1.0 and float(values.min()) >= 0.0:
        values = values * _WHITE
    return np.clip(values, 0.0, _WHITE).astype(np.float32)


def _rgb_luminance(rgb: npt.NDArray[np.uint8]) -> FloatImage:
    # Integer weights summing to 1000 keep grey pixels exact (v * 1000 / 1000 == v).
    weighted = rgb[..., 0] * np.float32(299) + rgb[..., 1] * np.float32(587)
    weighted += rgb[..., 2] * np.float32(114)
    return (weighted / np.float32(1000)).astype(np.float32)


def _flatten_alpha(
    luminance: FloatImage, alpha_channel: npt.NDArray[np.uint8], *, strict: bool
) -> FloatImage:
    alpha = alpha_channel.astype(np.float32) / np.float32(_WHITE)
    if strict:
        return (luminance * alpha).astype(np.float32)
    background = _contrasting_background(luminance, alpha)
    return np.asarray(luminance * alpha + background * (1 - alpha), dtype=np.float32)


def _contrasting_background(luminance: FloatImage, alpha: FloatImage) -> float:
    """White behind dark paint, black behind light paint; black for a fully transparent image."""
    coverage = float(alpha.sum())
    if coverage == 0.0:
        return 0.0
    painted_mean = float((luminance * alpha).sum()) / coverage
    return _WHITE if painted_mean < _WHITE / 2 else 0.0
