"""The evidence map as a picture to lay over the 28x28 input: blue for the digit, red against.

An RGBA PNG of 28x28 pixels: blue (ColorBrewer RdBu's dark blue, as in the weight maps) where
the evidence is positive, red where it is negative, opaque in proportion to ``|value| / scale``
and fully transparent at 0, so that the input shows through where nothing speaks either way.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import numpy.typing as npt
from PIL import Image

FOR = (0x21, 0x66, 0xAC)
AGAINST = (0xB2, 0x18, 0x2B)


def evidence_rgba(evidence: npt.NDArray[np.floating], scale: float) -> npt.NDArray[np.uint8]:
    """``uint8 [H, W, 4]``: the colour of each value's sign, alpha ``|value| / scale`` (clipped)."""
    rgba = np.zeros((*evidence.shape, 4), dtype=np.uint8)
    rgba[evidence > 0, :3] = FOR
    rgba[evidence < 0, :3] = AGAINST
    if scale > 0:
        strength = np.clip(np.abs(evidence) / scale, 0.0, 1.0)
        rgba[..., 3] = np.rint(strength * 255.0).astype(np.uint8)
    return rgba


def evidence_png_base64(evidence: npt.NDArray[np.floating], scale: float) -> str:
    """The map as a base64-encoded RGBA PNG (ASCII)."""
    buffer = io.BytesIO()
    Image.fromarray(evidence_rgba(evidence, scale), mode="RGBA").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
