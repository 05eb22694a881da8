"""Real handwriting cropped close: UCI's 8x8 scans as they are stored, the ink on the borders.

The same 1,797 digits by 43 people as ``benchmarks.digit_sources.scans`` (UCI's optical digits,
bundled with scikit-learn, 17 grey levels), without the white margin that source adds: raw 8x8
in either polarity, and upscaled 4x to 32x32. ``benchmarks.realworld_models`` reads them beside
the other sources; they are kept out of ``digit_sources.SOURCES``, the set that chooses the
training augmentation and calibrates confidence.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image

from benchmarks.digit_sources import Sample


def _uci(limit: int | None) -> list[tuple[npt.NDArray[np.uint8], int]]:
    """UCI's 8x8 digits as dark ink on white paper, ``uint8`` grey levels (0..16 scaled)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return [
        (255 - np.round(values * 255 / 16).astype(np.uint8), int(label))
        for values, label in zip(bunch.images[:limit], bunch.target[:limit], strict=True)
    ]


def scans_8x8(limit: int | None = None) -> list[Sample]:
    """The scans as they are: 8x8, the ink touching the borders, dark on white."""
    return [(Image.fromarray(ink), label) for ink, label in _uci(limit)]


def scans_8x8_light(limit: int | None = None) -> list[Sample]:
    """The 8x8 scans inverted: light ink on black, as UCI stores them."""
    return [(Image.fromarray(255 - ink), label) for ink, label in _uci(limit)]


def scans_cropped(limit: int | None = None) -> list[Sample]:
    """The 8x8 scans upscaled 4x without any margin (32x32, cropped close), dark on white."""
    return [
        (Image.fromarray(ink).resize((32, 32), Image.Resampling.BICUBIC), label)
        for ink, label in _uci(limit)
    ]


CROPPED_SCANS: dict[str, tuple[Callable[[], list[Sample]], str]] = {
    "scans_8x8": (scans_8x8, "the same 8x8 scans as they are, dark on white, no margin"),
    "scans_8x8_light": (scans_8x8_light, "the same 8x8 scans, light on black, no margin"),
    "scans_cropped": (scans_cropped, "the same scans upscaled to 32x32 without a margin"),
}
