"""MNIST test digits rendered the ways users upload digits, for ``benchmarks.realworld_eval``.

Each rendering takes a 28x28 MNIST digit (light on black) and a random generator and returns the
Pillow image a user might send: a different polarity, size, file format, paper, ink or alpha.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from app.images.normalize import NormalizeMode

Pixels = npt.NDArray[np.uint8]
Render = Callable[[Pixels, np.random.Generator], Image.Image]


def _upscaled(digit: Pixels, factor: int) -> npt.NDArray[np.float32]:
    """Ink coverage 0..1 of the digit drawn ``factor`` times larger, smooth like a real stroke."""
    size = (28 * factor, 28 * factor)
    big = Image.fromarray(digit).resize(size, Image.Resampling.BICUBIC)
    return np.asarray(big, dtype=np.float32) / 255.0


def _rgb(values: npt.NDArray[np.floating]) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def plain(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    return Image.fromarray(digit)


def inverted(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    return Image.fromarray(255 - digit)


def scaled_up(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    return _rgb(255 * _upscaled(digit, 10))


def jpeg(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    buffer = io.BytesIO()
    _rgb(255 * (1 - _upscaled(digit, 4))).convert("RGB").save(buffer, "JPEG", quality=30)
    return Image.open(io.BytesIO(buffer.getvalue()))


def photo(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    """Dark ink, off-centre on 320x240 grey paper lit unevenly from one side, with sensor noise."""
    height, width = 240, 320
    ink = _upscaled(digit, 3)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (xs / width - 0.5) + np.sin(angle) * (ys / height - 0.5)) * 100
    paper = 180 + ramp + rng.normal(0, 8, (height, width))
    top, left = rng.integers(0, height - 84), rng.integers(0, width - 84)
    coverage = np.zeros((height, width), dtype=np.float32)
    coverage[top : top + 84, left : left + 84] = ink
    return _rgb(paper * (1 - 0.75 * coverage))


def coloured(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    """Blue ballpoint on grey paper, 96x96 RGB with a little noise."""
    ink = np.zeros((96, 96), dtype=np.float32)
    ink[20:76, 20:76] = _upscaled(digit, 2)
    paper, pen = np.array([178, 176, 170]), np.array([30, 55, 170])
    pixels = paper + ink[..., None] * (pen - paper) + rng.normal(0, 5, (96, 96, 3))
    return _rgb(pixels)


def transparent(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    """Black ink on a transparent 140x140 canvas whose transparent pixels hold random colours."""
    alpha = _upscaled(digit, 5)
    garbage = rng.integers(0, 256, (*alpha.shape, 3))
    rgb = np.where(alpha[..., None] > 0, 0, garbage)
    return Image.fromarray(np.dstack([rgb, 255 * alpha]).clip(0, 255).astype(np.uint8), "RGBA")


def thin_pen(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    """A fine pen on a 280x280 white canvas: the stroke eroded to about 60% of MNIST's width."""
    strokes = Image.fromarray(np.where(_upscaled(digit, 10) > 0.5, 0, 255).astype(np.uint8))
    return strokes.filter(ImageFilter.MaxFilter(9))


def transparent_white(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    """White ink on a transparent 84x84 canvas whose transparent pixels are black."""
    alpha = np.rint(255 * _upscaled(digit, 3)).clip(0, 255).astype(np.uint8)
    return Image.fromarray(np.dstack([np.full((*alpha.shape, 3), 255, np.uint8), alpha]), "RGBA")


AUTO, ALWAYS = NormalizeMode.AUTO, NormalizeMode.ALWAYS
KINDS: dict[str, tuple[Render, NormalizeMode, str]] = {
    "plain": (plain, AUTO, "28x28 MNIST test image as is (baseline)"),
    "plain_always": (plain, ALWAYS, "the same with normalize=always"),
    "inverted": (inverted, AUTO, "28x28, black ink on white"),
    "scaled_up": (scaled_up, AUTO, "280x280, light ink on black"),
    "jpeg": (jpeg, AUTO, "112x112 black on white, JPEG quality 30"),
    "photo": (photo, AUTO, "off-centre on 320x240 unevenly lit noisy grey paper"),
    "coloured": (coloured, AUTO, "blue ink on grey paper, 96x96 RGB"),
    "transparent": (transparent, AUTO, "black ink on transparent, garbage RGB, 140x140 RGBA"),
    "transparent_white": (transparent_white, AUTO, "white ink on transparent, 84x84 RGBA"),
    "thin_pen": (thin_pen, AUTO, "fine black pen on white, 280x280"),
}
