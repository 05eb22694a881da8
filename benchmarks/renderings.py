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


# --- tight crops: the ink touches the image's border, as on a form field or a phone crop ---------

# Grey level from which a pixel counts as ink when cropping (anti-aliased edges are fainter).
_CROP_LEVEL = 64


ALL_SIDES = (0, 1, 2, 3)


def _crop(digit: Pixels, sides: tuple[int, ...], margin: int = 0) -> Pixels:
    """The digit cut at its ink on ``sides`` (0 top, 1 bottom, 2 left, 3 right), ``margin`` kept
    on the others."""
    rows = np.flatnonzero((digit >= _CROP_LEVEL).any(axis=1))
    cols = np.flatnonzero((digit >= _CROP_LEVEL).any(axis=0))
    height, width = digit.shape
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    top = top if 0 in sides else max(0, top - margin)
    bottom = bottom if 1 in sides else min(height, bottom + margin)
    left = left if 2 in sides else max(0, left - margin)
    right = right if 3 in sides else min(width, right + margin)
    return digit[top:bottom, left:right]


def _dark_crop(crop: Pixels, size: tuple[int, int]) -> Image.Image:
    picture = Image.fromarray(crop).resize(size, Image.Resampling.BICUBIC)
    return Image.fromarray(255 - np.asarray(picture))


def _scaled(crop: Pixels, factor: float) -> tuple[int, int]:
    return max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor))


def tight(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    """Cropped at the ink on all four sides, dark on white, at 1x to 6x scale."""
    crop = _crop(digit, ALL_SIDES)
    return _dark_crop(crop, _scaled(crop, rng.uniform(1, 6)))


def tight_sides(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    """Cut at the ink on 1 to 3 random sides (a margin of 4 on the others), dark on white, 3x."""
    sides = rng.choice(4, size=int(rng.integers(1, 4)), replace=False)
    crop = _crop(digit, tuple(int(side) for side in sides), margin=4)
    return _dark_crop(crop, _scaled(crop, 3))


def tight_tiny(digit: Pixels, rng: np.random.Generator, margin: int = 0) -> Image.Image:
    """Cropped at the ink and scaled so its longer side is 8 to 16 pixels, dark on white."""
    factor = rng.integers(8, 17) / max(_crop(digit, ALL_SIDES).shape)
    crop = _crop(digit, () if margin else ALL_SIDES, margin)
    return _dark_crop(crop, _scaled(crop, factor))


def tiny(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    """``tight_tiny`` at the same scale with a 4-pixel margin (its reference)."""
    return tight_tiny(digit, rng, margin=4)


def tight_light(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    """Cropped at the ink, light on black, scaled so its longer side is 12 to 40 pixels."""
    crop = _crop(digit, ALL_SIDES)
    size = _scaled(crop, rng.integers(12, 41) / max(crop.shape))
    return Image.fromarray(crop).resize(size, Image.Resampling.BICUBIC)


def tight_thick(digit: Pixels, rng: np.random.Generator, margin: int = 0) -> Image.Image:
    """A felt tip (strokes dilated by 2 pixels at 28x28 scale) cropped at the ink, dark, 4x."""
    bold = np.asarray(Image.fromarray(digit).filter(ImageFilter.MaxFilter(3)))
    bold = np.asarray(Image.fromarray(bold).filter(ImageFilter.MaxFilter(3)))
    crop = _crop(bold, () if margin else ALL_SIDES, margin)
    return _dark_crop(crop, _scaled(crop, 4))


def thick(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    """``tight_thick`` with a 4-pixel margin (its reference)."""
    return tight_thick(digit, rng, margin=4)


def tight_thin(digit: Pixels, rng: np.random.Generator) -> Image.Image:
    """The fine pen of ``thin_pen`` cropped at the ink on all four sides (about 200x200)."""
    pen = np.asarray(thin_pen(digit, rng))
    ink = pen < 128
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return Image.fromarray(pen[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


# Kinds that lose some of the digit whatever the crop (a few pixels, strokes twice MNIST's
# width) are held to their own rendering with a margin, so the target measures the crop alone.
REFERENCES = {"tight_tiny": "tiny", "tight_thick": "thick"}

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
    "tight": (tight, AUTO, "cropped at the ink on 4 sides, dark on white, 1x-6x"),
    "tight_sides": (tight_sides, AUTO, "cropped at the ink on 1-3 sides, dark on white, 3x"),
    "tight_tiny": (tight_tiny, AUTO, "cropped at the ink, longer side 8 to 16 pixels"),
    "tight_light": (tight_light, AUTO, "cropped at the ink, light on black, longer side 12-40"),
    "tiny": (tiny, AUTO, "tight_tiny's scale with a 4-pixel margin (its reference)"),
    "tight_thick": (tight_thick, AUTO, "felt tip, cropped at the ink, dark on white, 4x"),
    "thick": (thick, AUTO, "tight_thick with a 4-pixel margin (its reference)"),
    "tight_thin": (tight_thin, AUTO, "fine pen cropped at the ink, dark on white, ~200x200"),
}
