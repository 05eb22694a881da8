"""Luminance of an uploaded image: one float32 grey level per pixel in 0..255.

Every Pillow mode a user is likely to upload is reduced to the same thing, the light intensity
the model will eventually see. Colour goes through Pillow's own ``"L"`` conversion (ITU-R BT.601,
integer arithmetic), so a grey RGB image and the same image saved as ``"L"`` give identical values
and an MNIST digit saved in any of these formats reaches the model with its original grey levels.

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
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_WHITE = 255.0
_SIXTEEN_TO_EIGHT_BIT = 65535.0 / 255.0


class UnsupportedModeError(ValueError):
    """The image's pixel format cannot be turned into grey levels."""

    def __init__(self, mode: str) -> None:
        super().__init__(f"images with pixel format {mode!r} are not supported")
        self.mode = mode


def to_luminance(image: Image.Image, *, strict: bool) -> FloatImage:
    """Grey levels ``float32 [H, W]`` in 0..255 of any supported Pillow image.

    ``strict`` chooses how transparency is flattened (see the module docstring).
    """
    mode = image.mode
    if mode in _ALPHA_MODES or (mode == "P" and _palette_has_transparency(image)):
        rgba = _convert(image.convert("LA") if mode == "La" else image, "RGBA")
        luma = np.asarray(rgba.convert("L"), dtype=np.uint16)
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.uint16)
        if strict:
            # Integer compositing on black, rounded to the nearest grey level.
            return ((luma * alpha + 127) // 255).astype(np.float32)
        return _composite_on_contrast(luma.astype(np.float32), alpha.astype(np.float32) / _WHITE)
    if mode == "L":
        return np.asarray(image, dtype=np.float32)
    if mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(image).astype(np.uint32)
        return ((wide * 255 + 32767) // 65535).astype(np.float32)
    if mode in ("I", "F"):
        return _wide_to_eight_bit(np.asarray(image).astype(np.float64))
    rgb = image if mode == "RGB" else _convert(image, "RGB")
    return np.asarray(rgb.convert("L"), dtype=np.float32)


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


def _composite_on_contrast(luminance: FloatImage, alpha: FloatImage) -> FloatImage:
    """Paint over white if the paint is dark, over black if it is light (black if none)."""
    coverage = float(alpha.sum())
    painted_mean = float((luminance * alpha).sum()) / coverage if coverage else _WHITE
    background = _WHITE if painted_mean < _WHITE / 2 else 0.0
    return np.asarray(luminance * alpha + background * (1 - alpha), dtype=np.float32)
