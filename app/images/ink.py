"""Finding the ink: thresholds, bounding box and stroke width, once the background is gone.

With ``app.images.background`` (polarity, background field, noise) these are the
image-statistics half of MNIST normalisation (``app.images.normalize`` holds the geometric
half). Everything works on float32 grey levels in 0..255 and derives its thresholds from the
image itself, so the same code handles a clean canvas export, a noisy phone photo of grey paper,
a JPEG with compression artefacts and a digit cropped close in a tiny scan.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from app.images.background import (
    TWO_LEVELS,
    FloatImage,
    image_noise,
    otsu_threshold,
    paper_noise,
    separability,
)

Mask = npt.NDArray[np.bool_]

# Ink must stand out from its background by at least this many grey levels (of 255).
MIN_CONTRAST = 40.0
# Pixels above the background noise by this many robust standard deviations may be ink.
NOISE_SIGMAS = 5.0
# Soft ink ramps from this many noise deviations above the background up to the median stroke
# level: the anti-aliased edges of strokes survive, paper grain does not.
_RAMP_SIGMAS = 3.0


class BlankImageError(ValueError):
    """The image holds nothing that stands out from its background: no digit to read."""


def ink_map(foreground: FloatImage) -> tuple[FloatImage, Mask]:
    """Soft ink in 0..1 and the mask of sure stroke pixels, from background-subtracted levels.

    Sure strokes lie above the larger of Otsu's threshold and a noise floor (the background's
    level + a few of its robust standard deviations), so neither faint JPEG ringing nor paper
    grain counts as a stroke. The soft ink ramps linearly from just above the noise to the
    typical stroke level, which keeps the anti-aliased edges of strokes that MNIST has.

    The background's level and noise are the whole image's median and MAD while ink covers a
    small part of it. In a digit cropped close the ink pulls both towards the strokes, so they
    come from the paper's pixels alone (``paper_noise``) when the image clearly holds two
    levels and the ink has moved the median off the paper, or when the whole-image figures
    find no ink at all. A blank but noisy image does not hold two clear levels (at 8x8, with
    only 64 pixels, 5 in 1,000 do), so it keeps the whole-image figures that refuse it.
    """
    threshold = otsu_threshold(foreground)
    whole = image_noise(foreground)
    # The paper's level is at least the darkest pixel: on a clean background (the median is
    # that pixel) the ink cannot have moved the median off the paper.
    if whole[0] > float(foreground.min()):
        paper = paper_noise(foreground, threshold)
        if whole[0] > paper[0] + paper[1] and separability(foreground, threshold) >= TWO_LEVELS:
            return _ink_map(foreground, threshold, paper)
    try:
        return _ink_map(foreground, threshold, whole)
    except BlankImageError:
        if separability(foreground, threshold) < TWO_LEVELS:
            raise
    return _ink_map(foreground, threshold, paper_noise(foreground, threshold))


def _ink_map(
    foreground: FloatImage, otsu: float, noise: tuple[float, float]
) -> tuple[FloatImage, Mask]:
    median, spread = noise
    noise_floor = median + NOISE_SIGMAS * spread
    threshold = max(otsu, noise_floor, median + MIN_CONTRAST / 2)
    strokes = foreground[foreground > threshold]
    if strokes.size == 0 or float(strokes.max()) - median < MIN_CONTRAST:
        raise BlankImageError("the image has no ink: nothing stands out from the background")
    ink_level = max(float(np.median(strokes)), threshold + 1.0)
    start = median + _RAMP_SIGMAS * spread
    soft = np.clip((foreground - start) / (ink_level - start), 0.0, 1.0).astype(np.float32)
    return soft, foreground > threshold


def ink_box(ink: Mask) -> tuple[slice, slice]:
    """Rows and columns of the digit: the heaviest band of ink along each axis.

    Taking the band with the most ink (allowing small gaps, for broken strokes) rather than the
    extent of every inked pixel keeps a speck of dirt or a paper edge far from the digit from
    stretching the box, and so from shrinking the digit.
    """
    rows = _main_span(ink.sum(axis=1, dtype=np.float32))
    cols = _main_span(ink[rows].sum(axis=0, dtype=np.float32))
    rows = _main_span(ink[:, cols].sum(axis=1, dtype=np.float32))
    return rows, cols


# Bands of ink separated by at most this fraction of the band's length belong together.
_GAP_FRACTION = 0.25


def _main_span(profile: npt.NDArray[np.float32]) -> slice:
    inked = np.flatnonzero(profile > 0)
    if inked.size == 0:
        raise BlankImageError("the image has no ink: nothing stands out from the background")
    breaks = np.flatnonzero(np.diff(inked) > 1)
    starts = np.concatenate(([inked[0]], inked[breaks + 1]))
    stops = np.concatenate((inked[breaks], [inked[-1]])) + 1
    masses = [float(profile[a:b].sum()) for a, b in zip(starts, stops, strict=True)]
    left = right = int(np.argmax(masses))
    grown = True
    while grown:
        gap_limit = max(2, int(_GAP_FRACTION * (stops[right] - starts[left])))
        grown = False
        if left > 0 and starts[left] - stops[left - 1] <= gap_limit:
            left, grown = left - 1, True
        if right < len(starts) - 1 and starts[right + 1] - stops[right] <= gap_limit:
            right, grown = right + 1, True
    return slice(int(starts[left]), int(stops[right]))


def thicken(ink: FloatImage, radius: int) -> FloatImage:
    """Grey dilation by a (2 radius + 1) square, on a canvas grown by ``radius`` on every side."""
    if radius <= 0:
        return ink
    window = 2 * radius + 1
    grown = np.pad(ink, 2 * radius)
    # A square is separable: a running maximum down the columns, then along the rows.
    grown = sliding_window_view(grown, window, axis=0).max(axis=-1)
    return np.asarray(sliding_window_view(grown, window, axis=1).max(axis=-1), dtype=np.float32)
