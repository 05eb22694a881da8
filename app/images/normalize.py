"""MNIST-style normalisation of uploaded images, the pure core behind ``POST /predict``.

The model only knows MNIST: a light digit on a black 28x28 field, size-normalised to fit a 20x20
box (aspect ratio kept, anti-aliased) and centred on its centre of mass (LeCun et al.). Users
send black ink on white paper, canvas exports, phone photos and transparent PNGs, so
:func:`prepare` turns any of them into that form, or passes an image that already is in that
form through untouched. Numpy and Pillow only; no web framework, no TensorFlow.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from PIL import Image

from app.contract import IMAGE_SIZE, Pixels
from app.images.background import WHITE, background, denoise, light_on_dark, stroke_width
from app.images.ink import MIN_CONTRAST, BlankImageError, ink_box, ink_map, thicken
from app.images.luminance import FloatImage, UnsupportedModeError, to_luminance

__all__ = [
    "BlankImageError",
    "NormalizeMode",
    "Prepared",
    "UnsupportedModeError",
    "WrongSizeError",
    "encode_png_base64",
    "looks_like_mnist",
    "normalize",
    "prepare",
    "to_luminance",
]


DIGIT_BOX = 20
# MNIST puts the centre of mass on pixel index 14 (measured on the test set: 13.99, 14.01).
MNIST_CENTRE = 14.0
# Larger uploads are box-averaged down to this longer side first: the digit ends up 20 pixels
# tall, so more resolution only costs time and memory.
WORKING_SIDE = 512
_REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "I", "F"})
# An MNIST image's two outer rows and columns are black: their mean is at most 8.3 on the test set.
_MNIST_BORDER_MEAN = 24.0
_MNIST_MIN_PEAK = 128.0
# Whether every image that looks like MNIST passes the ink check (a test holds it to True).
MNIST_FORM_HAS_INK = _MNIST_MIN_PEAK - _MNIST_BORDER_MEAN >= MIN_CONTRAST
# Strokes thinner than this (pixels, at the 20x20 scale) are thickened to it. MNIST's strokes are
# 2.1 / 2.6 / 3.7 pixels wide at the 10th / 50th / 90th percentile; a ballpoint scaled down from
# a photo comes out well under 1 pixel and faint, which the model reads badly.
_MIN_STROKE = 2.5


class NormalizeMode(StrEnum):
    """How ``prepare`` treats an upload (the ``normalize`` query parameter)."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


class WrongSizeError(ValueError):
    """A strict (``normalize=never``) upload that is not 28x28."""

    def __init__(self, received: tuple[int, int], expected: tuple[int, int]) -> None:
        super().__init__(
            f"the image is {received[0]}x{received[1]} pixels; expected"
            f" {expected[0]}x{expected[1]} with normalize=never (normalize=auto or always"
            " accepts other sizes)"
        )
        self.received = received
        self.expected = expected


@dataclass(frozen=True)
class Prepared:
    """The 28x28 image the model sees and whether normalisation produced it."""

    pixels: Pixels
    normalized: bool


def prepare(image: Image.Image | Pixels, mode: NormalizeMode) -> Prepared:
    """Turn an upload into the model's ``uint8 [28, 28]`` input according to ``mode``.

    ``image`` is a decoded Pillow image, or the grey levels ``uint8 [H, W]`` of a greyscale one.
    ``never`` is the strict contract (28x28, alpha composited on black, values as sent);
    ``auto`` keeps that path for 28x28 images that already look like MNIST, so an MNIST test
    image gives exactly the SavedModel's own prediction, and normalises everything else;
    ``always`` normalises every image. Raises :class:`WrongSizeError` or :class:`BlankImageError`.
    """
    size = (image.shape[1], image.shape[0]) if isinstance(image, np.ndarray) else image.size
    if size == (IMAGE_SIZE, IMAGE_SIZE) and mode is not NormalizeMode.ALWAYS:
        strict = strict_pixels(image)
        if mode is NormalizeMode.NEVER or looks_like_mnist(strict):
            _require_ink(strict)
            return Prepared(pixels=strict, normalized=False)
    elif mode is NormalizeMode.NEVER:
        raise WrongSizeError(received=size, expected=(IMAGE_SIZE, IMAGE_SIZE))
    if isinstance(image, np.ndarray):  # normalisation works on the same picture in Pillow's "L"
        image = Image.fromarray(image, mode="L")
    return Prepared(pixels=normalize(to_luminance(_shrink(image), strict=False)), normalized=True)


def looks_like_mnist(gray: npt.NDArray[np.generic]) -> bool:
    """Whether grey levels are already in MNIST form: 28x28, black frame, bright ink.

    Such an image has ink: its darkest pixel is at most the frame's mean and its brightest at
    least the peak, more than :data:`MIN_CONTRAST` apart (see :data:`MNIST_FORM_HAS_INK`).
    """
    if gray.shape != (IMAGE_SIZE, IMAGE_SIZE):
        return False
    # The frame's mean from two sums: a boolean mask costs more than the rest of the check.
    # Grey levels sum exactly in 32-bit integers (28 * 28 * 255 < 2**32), faster than in floats.
    exact = np.uint32 if gray.dtype == np.uint8 else np.float64
    total = float(np.add.reduce(gray, axis=None, dtype=exact))
    inner = float(np.add.reduce(gray[2:-2, 2:-2], axis=None, dtype=exact))
    frame_mean = (total - inner) / (IMAGE_SIZE**2 - (IMAGE_SIZE - 4) ** 2)
    return frame_mean <= _MNIST_BORDER_MEAN and float(gray.max()) >= _MNIST_MIN_PEAK


def normalize(gray: npt.NDArray[np.generic]) -> Pixels:
    """LeCun's MNIST normalisation of grey levels ``[H, W]`` (0..255) of any size and polarity.

    Ink is made light on dark, the background (even uneven) is subtracted and thresholded from
    the image's own statistics, the ink's bounding box is scaled to fit 20x20 with its aspect
    ratio kept and anti-aliasing, and the result is pasted into 28x28 with its centre of mass
    on the centre. Raises :class:`BlankImageError` when nothing stands out from the background.
    """
    working = _working_copy(np.asarray(gray, dtype=np.float32))
    if working.size == 0 or float(np.ptp(working)) < MIN_CONTRAST:
        raise BlankImageError("the image has no ink: it is a single flat colour")
    working = light_on_dark(denoise(working))
    ink, strokes = ink_map(working - background(working))
    rows, cols = ink_box(strokes)
    digit = _normalise_stroke(ink[rows, cols], strokes[rows, cols])
    return _to_pixels(WHITE * _centre_on_mass(_fit_in_box(digit, DIGIT_BOX)))


def encode_png_base64(pixels: Pixels) -> str:
    """The image as a base64-encoded PNG (ASCII), e.g. to show users what the model saw."""
    if pixels.dtype != np.uint8 or pixels.ndim != 2:
        raise ValueError(f"expected uint8 [H, W] pixels, got {pixels.dtype} {pixels.shape}")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _shrink(image: Image.Image) -> Image.Image:
    """Box-average a large upload down towards the working size while still in 8 bits.

    This is the same averaging ``normalize`` would do, but on bytes in C rather than on floats
    (a 4096x4096 photo gets 8 times faster). Grey levels (a JPEG decoded straight to grey, a
    greyscale PNG) go to the working size in one step, so that nothing larger than the
    decoded image itself is ever held; other modes are reduced by a whole factor, Pillow
    premultiplying alpha for it, so garbage colours in transparent pixels do not bleed into
    their painted neighbours.
    """
    width, height = image.size
    longer = max(width, height)
    if longer <= WORKING_SIDE or image.mode not in _REDUCIBLE_MODES:
        return image
    if image.mode == "L":
        return image.resize(_working_size(width, height), Image.Resampling.BOX)
    factor = longer // WORKING_SIDE
    return image.reduce(factor) if factor >= 2 else image


def _working_size(width: int, height: int) -> tuple[int, int]:
    """The size an image larger than the working size is box-averaged to."""
    scale = WORKING_SIDE / max(width, height, 1)
    return max(1, round(width * scale)), max(1, round(height * scale))


def strict_pixels(image: Image.Image | Pixels) -> Pixels:
    """The grey levels as sent (alpha composited on black); grey levels are already that."""
    if isinstance(image, np.ndarray):
        return image
    return _to_pixels(to_luminance(image, strict=True))


def _require_ink(pixels: Pixels) -> None:
    if int(pixels.max()) - int(pixels.min()) < MIN_CONTRAST:
        raise BlankImageError("the image has no ink: nothing stands out from the background")


def _to_pixels(values: FloatImage) -> Pixels:
    return np.clip(np.rint(values), 0, WHITE).astype(np.uint8)


def _working_copy(gray: FloatImage) -> FloatImage:
    height, width = gray.shape
    if max(height, width) <= WORKING_SIDE:
        return gray
    resized = Image.fromarray(gray).resize(_working_size(width, height), Image.Resampling.BOX)
    return np.asarray(resized, dtype=np.float32)


def _normalise_stroke(ink: FloatImage, strokes: npt.NDArray[np.bool_]) -> FloatImage:
    """Thicken strokes that would come out thinner than MNIST's (a ballpoint, a thin brush)."""
    scale = DIGIT_BOX / max(ink.shape)
    width = stroke_width(strokes) * scale
    if width >= _MIN_STROKE:
        return ink
    return thicken(ink, radius=round((_MIN_STROKE - width) / 2 / scale))


def _fit_in_box(ink: FloatImage, box: int) -> FloatImage:
    """Scale so the longer side is ``box`` pixels, keeping the aspect ratio, anti-aliased."""
    height, width = ink.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(ink).resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _centre_on_mass(digit: FloatImage) -> FloatImage:
    """Paste into a 28x28 field so that the centre of mass lands on MNIST's centre pixel."""
    total = float(digit.sum())
    if total <= 0:
        raise BlankImageError("the image has no ink: nothing stands out from the background")
    ys, xs = np.indices(digit.shape)
    top = int(np.floor(MNIST_CENTRE - float((ys * digit).sum()) / total + 0.5))
    left = int(np.floor(MNIST_CENTRE - float((xs * digit).sum()) / total + 0.5))
    field = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    height, width = digit.shape
    # A lopsided digit can be shifted partly out of the field; MNIST crops it the same way.
    src_top, src_left = max(0, -top), max(0, -left)
    dst_top, dst_left = max(0, top), max(0, left)
    rows = min(height - src_top, IMAGE_SIZE - dst_top)
    cols = min(width - src_left, IMAGE_SIZE - dst_left)
    field[dst_top : dst_top + rows, dst_left : dst_left + cols] = digit[
        src_top : src_top + rows, src_left : src_left + cols
    ]
    return field
