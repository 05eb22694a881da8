"""Pictures of the learned weights: one 28x28 map per digit in a diverging colour map.

Like the figure of TensorFlow's "MNIST for beginners" tutorial: red where ink lowers the digit's
score, blue where it raises it, near-white where the pixel does not matter. All maps share one
symmetric scale (zero is always the middle colour), so they can be compared with each other;
the rare weights beyond its ends are drawn in its end colours.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from app.contract import IMAGE_SIZE, NUM_CLASSES

LIMIT_PERCENTILE = 99.0

# ColorBrewer's 11-class RdBu, from most negative (dark red) through zero (light grey) to most
# positive (dark blue): a perceptually ordered diverging scale that survives greyscale printing.
_ANCHORS = np.array(
    [
        (0x67, 0x00, 0x1F),
        (0xB2, 0x18, 0x2B),
        (0xD6, 0x60, 0x4D),
        (0xF4, 0xA5, 0x82),
        (0xFD, 0xDB, 0xC7),
        (0xF7, 0xF7, 0xF7),
        (0xD1, 0xE5, 0xF0),
        (0x92, 0xC5, 0xDE),
        (0x43, 0x93, 0xC3),
        (0x21, 0x66, 0xAC),
        (0x05, 0x30, 0x61),
    ],
    dtype=np.float64,
)
_INK = (33, 33, 33)
_BACKGROUND = (255, 255, 255)
_FRAME = (190, 190, 190)

Weights = npt.NDArray[np.float32]
Rgb = npt.NDArray[np.uint8]


def diverging_colors(values: npt.ArrayLike, limit: float) -> Rgb:
    """RGB ``uint8 [..., 3]`` for values in ``[-limit, limit]`` (clipped); 0 is the middle."""
    array = np.asarray(values, dtype=np.float64)
    position = (np.clip(array / limit, -1.0, 1.0) + 1.0) / 2.0 * (len(_ANCHORS) - 1)
    below = np.minimum(np.floor(position).astype(np.intp), len(_ANCHORS) - 2)
    fraction = (position - below)[..., np.newaxis]
    colours = _ANCHORS[below] * (1.0 - fraction) + _ANCHORS[below + 1] * fraction
    rgb: Rgb = np.rint(colours).astype(np.uint8)
    return rgb


class WeightMaps:
    """Renders (and caches) PNGs of one model's weight maps; safe to share between threads."""

    def __init__(self, weights: Weights) -> None:
        if weights.shape != (IMAGE_SIZE * IMAGE_SIZE, NUM_CLASSES):
            raise ValueError(f"expected weights of shape (784, 10), got {weights.shape}")
        self.weights = weights
        # The colour scale is symmetric around zero and shared by all ten maps. It ends at the
        # 99th percentile of |W|: a few extreme weights (rarely inked border pixels, which
        # adaptive optimisers push far) would otherwise wash every other weight out to white.
        magnitudes = np.abs(weights)
        self.limit = float(np.percentile(magnitudes, LIMIT_PERCENTILE)) or 1.0
        self.clipped = float(magnitudes.max()) > self.limit
        self._cache: dict[tuple[int | None, int], bytes] = {}
        self._lock = threading.Lock()

    def digit_map(self, digit: int) -> npt.NDArray[np.float32]:
        """Weights of one digit as a ``28x28`` image (row i of W is pixel i in row-major order)."""
        return self.weights[:, digit].reshape(IMAGE_SIZE, IMAGE_SIZE)

    def digit_png(self, digit: int, scale: int) -> bytes:
        """One digit's map, each weight drawn as a ``scale`` x ``scale`` square."""
        if not 0 <= digit < NUM_CLASSES:
            raise ValueError(f"digit must be 0-9, got {digit}")
        return self._cached((digit, scale), lambda: self._tile(digit, scale))

    def grid_png(self, scale: int) -> bytes:
        """All ten maps side by side, labelled 0-9, above a colour bar with its value range."""
        return self._cached((None, scale), lambda: self._grid(scale))

    def _cached(self, key: tuple[int | None, int], render: Callable[[], Image.Image]) -> bytes:
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            cached = _png(render())
            with self._lock:
                self._cache[key] = cached
        return cached

    def _tile(self, digit: int, scale: int) -> Image.Image:
        colours = diverging_colors(self.digit_map(digit), self.limit)
        tile = Image.fromarray(colours)
        return tile.resize((IMAGE_SIZE * scale, IMAGE_SIZE * scale), Image.Resampling.NEAREST)

    def tile_origins(self, scale: int) -> list[tuple[int, int]]:
        """Top-left corner of each digit's map in :meth:`grid_png` at this scale."""
        pad = _padding(scale)
        return [(pad + digit * (IMAGE_SIZE * scale + pad), pad) for digit in range(NUM_CLASSES)]

    def _grid(self, scale: int) -> Image.Image:
        tile = IMAGE_SIZE * scale
        pad = _padding(scale)
        font = ImageFont.load_default(size=max(11, 3 * scale + 8))
        text_height = _text_height(font)
        bar_height = max(8, 2 * scale)
        width = pad + NUM_CLASSES * (tile + pad)
        bar_top = pad + tile + pad + text_height + 2 * pad
        height = bar_top + bar_height + pad + text_height + pad
        canvas = Image.new("RGB", (width, height), _BACKGROUND)
        draw = ImageDraw.Draw(canvas)
        for digit, (left, _) in enumerate(self.tile_origins(scale)):
            canvas.paste(self._tile(digit, scale), (left, pad))
            # Zero is near-white: a hairline keeps the maps' edges visible on the white page.
            draw.rectangle((left - 1, pad - 1, left + tile, pad + tile), outline=_FRAME)
            draw.text(
                (left + tile / 2, pad + tile + pad), str(digit), fill=_INK, font=font, anchor="mt"
            )
        self._colour_bar(canvas, draw, font, (pad, bar_top, width - pad, bar_top + bar_height))
        return canvas

    def _colour_bar(
        self,
        canvas: Image.Image,
        draw: ImageDraw.ImageDraw,
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
        box: tuple[int, int, int, int],
    ) -> None:
        left, top, right, bottom = box
        ramp = np.linspace(-self.limit, self.limit, right - left)
        bar = np.repeat(diverging_colors(ramp, self.limit)[np.newaxis], bottom - top, axis=0)
        canvas.paste(Image.fromarray(bar), (left, top))
        beyond = (" or less", " or more") if self.clipped else ("", "")
        labels = (
            (left, "lt", f"{-self.limit:.3g}{beyond[0]}"),
            ((left + right) / 2, "mt", "0"),
            (right, "rt", f"+{self.limit:.3g}{beyond[1]}"),
        )
        for x, anchor, text in labels:
            draw.text((x, bottom + 4), text, fill=_INK, font=font, anchor=anchor)


def _padding(scale: int) -> int:
    return max(6, 2 * scale)


def _text_height(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    return int(font.getbbox("0123456789+-.")[3])


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
