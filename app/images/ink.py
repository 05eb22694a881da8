"""Finding the ink: polarity, background removal, thresholds, bounding box and stroke width.

These are the image-statistics half of MNIST normalisation (``app.images.normalize`` holds the
geometric half). Everything works on float32 grey levels in 0..255 and derives its thresholds
from the image itself, so the same code handles a clean canvas export, a noisy phone photo of
grey paper and a JPEG with compression artefacts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

FloatImage = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]

WHITE = 255.0
# Ink must stand out from its background by at least this many grey levels (of 255).
MIN_CONTRAST = 40.0
# Pixels above the background noise by this many robust standard deviations may be ink.
NOISE_SIGMAS = 5.0
# Background cells are about this size (pixels); a cell must be much larger than a stroke.
_CELL = 32
_MAX_CELLS = 8
# Background statistic of a cell: a low percentile, so that ink covering up to most of a cell
# does not leak into the background estimate.
_CELL_PERCENTILE = 20.0
# Images at least this large are median-filtered first: isolated noise and JPEG specks go,
# strokes (several pixels wide at this size) stay.
_DENOISE_MIN_SIDE = 64
_MAD_TO_SIGMA = 1.4826
# Soft ink ramps from this many noise deviations above the background up to the median stroke
# level: the anti-aliased edges of strokes survive, paper grain does not.
_RAMP_SIGMAS = 3.0


class BlankImageError(ValueError):
    """The image holds nothing that stands out from its background: no digit to read."""


def border(gray: FloatImage, width: int = 1) -> FloatImage:
    """The pixels of the outer frame, ``width`` pixels thick."""
    frame = np.ones(gray.shape, dtype=bool)
    frame[width:-width, width:-width] = False
    return gray[frame]


def otsu_threshold(values: FloatImage) -> float:
    """Otsu's threshold: the split of the values maximising the between-class variance."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return high
    # 256 equal bins over the value range (bincount is much faster than np.histogram).
    step = (high - low) / 256
    bins = np.minimum(((values - low) / step).astype(np.intp), 255)
    p = np.bincount(bins.ravel(), minlength=256) / values.size
    edges = low + step * np.arange(257)
    levels = (edges[:-1] + edges[1:]) / 2
    below = np.cumsum(p)[:-1]
    below_mass = np.cumsum(p * levels)[:-1]
    total_mass = float((p * levels).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * below - below_mass) ** 2 / (below * (1 - below))
    return float(edges[int(np.argmax(np.nan_to_num(between, nan=-1.0, posinf=-1.0))) + 1])


def light_on_dark(gray: FloatImage) -> FloatImage:
    """The image with ink lighter than the background (MNIST polarity), inverting if needed.

    Illumination is flattened first (subtracting each region's median), then the background is
    whichever side of Otsu's threshold most of the outer frame falls on: a digit rarely touches
    the frame, and the frame is background even when a bold digit covers most of a tight crop.
    """
    if min(gray.shape) < 3:
        return gray
    flat = gray - _cell_field(gray, 50.0)
    threshold = otsu_threshold(flat)
    if float(np.mean(border(flat, _frame_width(gray)) >= threshold)) > 0.5:
        return (np.float32(WHITE) - gray).astype(np.float32)
    return gray


def _frame_width(gray: FloatImage) -> int:
    return max(1, int(min(gray.shape)) // 32)


# Devillard's 19-exchange network for the median of nine values ("Fast median search", 1998):
# after these compare-and-swaps, element 4 is the median.
_MEDIAN_OF_9 = (
    (1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
    (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2),
)  # fmt: skip


def denoise(gray: FloatImage) -> FloatImage:
    """A 3x3 median filter for images large enough that strokes survive it.

    The same values as Pillow's ``MedianFilter(3)`` (edges repeated, tested), computed with
    whole-array minima and maxima: ~5x faster, and numpy lets go of the GIL in each of them,
    where Pillow's rank filter held it for ~60 ms on a 512x512 image, stalling the event loop
    and with it every other request.
    """
    if min(gray.shape) < _DENOISE_MIN_SIDE:
        return gray
    height, width = gray.shape
    padded = np.pad(gray, 1, mode="edge")
    cells = [padded[y : y + height, x : x + width] for y in range(3) for x in range(3)]
    for low, high in _MEDIAN_OF_9:
        smaller = np.minimum(cells[low], cells[high])
        cells[high] = np.maximum(cells[low], cells[high])
        cells[low] = smaller
    return np.asarray(cells[4], dtype=np.float32)


def background(gray: FloatImage) -> FloatImage:
    """A smooth estimate of the (dark) background under light ink, for uneven illumination."""
    return _cell_field(gray, _CELL_PERCENTILE)


def _cell_field(gray: FloatImage, percentile: float) -> FloatImage:
    """A smooth field of a local percentile: what the image looks like without its strokes.

    The image is split into a grid of cells; each cell's percentile is its level, a 3x3 median
    over the grid replaces cells that ink covers almost entirely, and bilinear interpolation
    turns the grid back into a smooth field. Small images get a single cell, i.e. a constant.
    """
    height, width = gray.shape
    rows = int(np.clip(height // _CELL, 1, _MAX_CELLS))
    cols = int(np.clip(width // _CELL, 1, _MAX_CELLS))
    # Equal cells; the few rows and columns left over at the far edges only miss the statistic.
    cell_h, cell_w = height // rows, width // cols
    cells = gray[: rows * cell_h, : cols * cell_w].reshape(rows, cell_h, cols, cell_w)
    grid = np.percentile(cells.transpose(0, 2, 1, 3).reshape(rows, cols, -1), percentile, axis=2)
    grid = grid.astype(np.float32)
    if rows == cols == 1:
        return np.full(gray.shape, grid[0, 0], dtype=np.float32)
    grid = _median3x3(grid)
    field = Image.fromarray(grid).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(field, dtype=np.float32)


def _median3x3(grid: FloatImage) -> FloatImage:
    padded = np.pad(grid, 1, mode="edge")
    rows, cols = grid.shape
    shifted = [padded[i : i + rows, j : j + cols] for i in range(3) for j in range(3)]
    return np.median(np.stack(shifted), axis=0).astype(np.float32)


def ink_map(foreground: FloatImage) -> tuple[FloatImage, Mask]:
    """Soft ink in 0..1 and the mask of sure stroke pixels, from background-subtracted levels.

    Sure strokes lie above the larger of Otsu's threshold and a noise floor (median + a few
    robust standard deviations of the mostly-background pixels), so neither faint JPEG ringing
    nor paper grain counts as a stroke. The soft ink ramps linearly from just above the noise
    to the typical stroke level, which keeps the anti-aliased edges of strokes that MNIST has.
    """
    median = float(np.median(foreground))
    spread = _MAD_TO_SIGMA * float(np.median(np.abs(foreground - median)))
    noise_floor = median + NOISE_SIGMAS * spread
    threshold = max(otsu_threshold(foreground), noise_floor, median + MIN_CONTRAST / 2)
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


def stroke_width(strokes: Mask) -> float:
    """Typical stroke width in pixels: twice the area over the boundary length.

    A stroke of width w and length L covers wL pixels and has about 2L boundary pixels.
    """
    padded = np.pad(strokes, 1)
    interior = (
        padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2]
    ) & padded[1:-1, 2:]
    boundary = int(np.count_nonzero(strokes & ~interior))
    return 2.0 * int(np.count_nonzero(strokes)) / max(boundary, 1)


def thicken(ink: FloatImage, radius: int) -> FloatImage:
    """Grey dilation by a (2 radius + 1) square, on a canvas grown by ``radius`` on every side."""
    if radius <= 0:
        return ink
    window = 2 * radius + 1
    grown = np.pad(ink, 2 * radius)
    # A square is separable: a running maximum down the columns, then along the rows.
    grown = sliding_window_view(grown, window, axis=0).max(axis=-1)
    return np.asarray(sliding_window_view(grown, window, axis=1).max(axis=-1), dtype=np.float32)
