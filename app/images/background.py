"""Finding the paper: polarity, the background field under the ink and its noise.

The image-statistics half of MNIST normalisation that decides what is *not* ink, before
``app.images.ink`` thresholds what is. Everything works on float32 grey levels in 0..255 and
holds however much of the image the digit covers: a digit with a wide margin around it, and one
cropped close so that its strokes touch every border and cover most of the pixels (a form field,
a phone crop, an 8x8 scan).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

FloatImage = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]

WHITE = 255.0
# Background cells are about this size (pixels); a cell must be much larger than a stroke.
_CELL = 32
_MAX_CELLS = 8
# ...and at least this many typical stroke widths.
_CELL_STROKES = 2
# Share of the image that ink still covers after a first background estimate, from which an
# image that Otsu's threshold finds mostly inked is a close crop, not shading: measured on the
# realworld_eval renderings, at most 0.02 on the unevenly lit photos, at least 0.2 on crops.
_CROP_INK_SHARE = 0.1
# Background statistic of a cell: a low percentile, so that ink covering up to most of a cell
# does not leak into the background estimate...
_CELL_PERCENTILE = 20.0
# ...and lower when ink covers most of the image: the percentile stays at this share of the
# paper's own pixels (at half cover, 20 % of the image is 40 % of the paper).
_BACKGROUND_SHARE = 0.4
# Images at least this large are median-filtered first: isolated noise and JPEG specks go,
# strokes (several pixels wide at this size) stay.
_DENOISE_MIN_SIDE = 64
_MAD_TO_SIGMA = 1.4826
# An image holds two clear levels (ink and paper) when Otsu's split leaves more than this share
# of its variance between the two sides. One symmetric mode split in two gives at most 3/4 (a
# flat spread of levels; 2/pi for Gaussian noise); a digit on paper, its anti-aliased edges
# included, 0.8 to 0.9 (measured on the tight crops of realworld_eval and UCI's scans).
TWO_LEVELS = 0.75
# Images of more pixels than this take their noise and background levels from every other row
# and column: a quarter of the pixels, still over 65,000 samples, whose medians and percentiles
# differ from all the pixels' by a small fraction of the noise (a median of n samples is off by
# about 1.25 sigma / sqrt(n): 0.5 % of sigma at 65,000), for a quarter of the partitioning, which
# was half the time of normalising a photo at the 512x512 working size.
_SAMPLED_ABOVE = 256 * 256


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


def border(gray: FloatImage, width: int = 1) -> FloatImage:
    """The pixels of the outer frame, ``width`` pixels thick."""
    frame = np.ones(gray.shape, dtype=bool)
    frame[width:-width, width:-width] = False
    return gray[frame]


def corners(gray: FloatImage) -> FloatImage:
    """The pixels of the four corner squares, an eighth of the shorter side wide."""
    side = max(1, min(gray.shape) // 8)
    ends = (slice(None, side), slice(-side, None))
    return np.concatenate([gray[rows, cols].ravel() for rows in ends for cols in ends])


def light_on_dark(gray: FloatImage) -> FloatImage:
    """The image with ink lighter than the background (MNIST polarity), inverting if needed.

    The background is the side of Otsu's threshold that holds most of the outer frame and of
    the four corners, voted on the image as it is and with its illumination flattened (each
    region's median subtracted). The frame alone misleads when a bold digit cropped close
    touches every border; the corners of a digit's own box are almost always paper. Flattening
    evens out a photo's shading but can swap sides in regions that a thick stroke fills, so
    each version of the image casts its vote.
    """
    if min(gray.shape) < 3:
        return gray
    votes = _bright_votes(gray)
    # A single cell's field is a constant, and subtracting it changes no vote.
    if _grid(gray.shape, _CELL) == (1, 1):
        votes *= 2
    else:
        votes += _bright_votes(gray - _cell_field(gray, 50.0))
    if votes > 2.0:
        return (np.float32(WHITE) - gray).astype(np.float32)
    return gray


def _bright_votes(gray: FloatImage) -> float:
    """Shares of the frame and of the corners above Otsu's threshold, summed (0..2)."""
    threshold = otsu_threshold(gray)
    frame = border(gray, max(1, int(min(gray.shape)) // 32))
    return float(np.mean(frame >= threshold)) + float(np.mean(corners(gray) >= threshold))


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
    """A smooth estimate of the (dark) background under light ink, for uneven illumination.

    Each cell's low percentile is its level, and a 3x3 median over the grid covers the few
    cells a stroke fills. A digit cropped close or drawn with a felt tip breaks both: a thick
    stroke along a border fills a whole row of cells, which the grid's median copies instead
    of covering, and ink over most of the image pushes the percentile into the strokes. So the
    strokes found on a first estimate decide: cells are made a few strokes wide, and when
    Otsu's threshold puts most of the image on the ink's side (both as it is and, for a tenth
    of it at least, once the first estimate is removed, which tells a close crop from a photo
    whose shading alone splits the paper in two), there are too few paper pixels per cell to
    follow shading, so the whole crop gets one level, at a percentile among the paper's pixels.
    """
    field = _cell_field(gray, _CELL_PERCENTILE)
    foreground = gray - field
    strokes = foreground >= otsu_threshold(foreground)
    if float(np.mean(strokes)) >= _CROP_INK_SHARE:
        ink_share = float(np.mean(gray >= otsu_threshold(gray)))
        if ink_share > 0.5:
            # Too few paper pixels per cell to follow shading: one level for the whole crop.
            percentile = 100 * _BACKGROUND_SHARE * (1.0 - ink_share)
            return _cell_field(gray, percentile, max(gray.shape))
    if _grid(gray.shape, _CELL) == (1, 1):  # wider cells cannot change a single cell
        return field
    cell = max(_CELL, round(_CELL_STROKES * stroke_width(strokes)))
    if _grid(gray.shape, cell) == _grid(gray.shape, _CELL):
        return field
    return _cell_field(gray, _CELL_PERCENTILE, cell)


def image_noise(foreground: FloatImage) -> tuple[float, float]:
    """Median and robust standard deviation (from the MAD) of all the pixels (or a sample)."""
    values = _sampled(foreground)
    median = float(np.median(values))
    return median, _MAD_TO_SIGMA * float(np.median(np.abs(values - median)))


def paper_noise(foreground: FloatImage, threshold: float) -> tuple[float, float]:
    """Level and robust standard deviation of the paper, however much of it ink covers.

    The level is the median of the pixels below Otsu's ``threshold``, the spread their MAD; in
    an image too small to be median-filtered (see ``denoise``) the spread is at most the noise
    left after removing every smooth ramp, because in a tiny crop most of those pixels are the
    anti-aliased edges of strokes, whose spread is not noise. (A median filter correlates
    neighbouring pixels, which hides noise from that estimator, and in a larger image the edges
    are a small share of the paper anyway.)
    """
    sample = _sampled(foreground)
    below = sample[sample < threshold]
    values = below if below.size else sample
    level = float(np.median(values))
    spread = _MAD_TO_SIGMA * float(np.median(np.abs(values - level)))
    if min(foreground.shape) < _DENOISE_MIN_SIDE:
        spread = min(spread, _fine_noise(foreground))
    return level, spread


def separability(values: FloatImage, threshold: float) -> float:
    """Otsu's criterion: the share of the variance that lies between the two sides (0..1)."""
    low, high = values[values < threshold], values[values >= threshold]
    variance = float(values.var())
    if low.size == 0 or high.size == 0 or variance <= 0:
        return 0.0
    share = low.size / values.size
    return share * (1 - share) * (float(high.mean()) - float(low.mean())) ** 2 / variance


def _fine_noise(gray: FloatImage) -> float:
    """Standard deviation of pixel noise, blind to smooth shading and ramps (Immerkær 1996).

    The kernel [[1, -2, 1], [-2, 4, -2], [1, -2, 1]] is the difference of two Laplacians, so it
    answers nothing to a plane and 6 sigma to white noise of deviation sigma; the median of its
    absolute answers over the image ignores the minority of pixels on sharp edges.
    """
    if min(gray.shape) < 3:
        return float("inf")
    centre = gray[1:-1, 1:-1]
    edges = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:]
    diagonals = gray[:-2, :-2] + gray[:-2, 2:] + gray[2:, :-2] + gray[2:, 2:]
    response = 4 * centre - 2 * edges + diagonals
    return _MAD_TO_SIGMA * float(np.median(np.abs(response))) / 6


def _cell_field(gray: FloatImage, percentile: float, cell: int = _CELL) -> FloatImage:
    """A smooth field of a local percentile: what the image looks like without its strokes.

    The image is split into a grid of cells; each cell's percentile is its level, a 3x3 median
    over the grid replaces cells that ink covers almost entirely, and bilinear interpolation
    turns the grid back into a smooth field. Small images get a single cell, i.e. a constant.
    """
    height, width = gray.shape
    rows, cols = _grid(gray.shape, cell)
    # Equal cells; the few rows and columns left over at the far edges only miss the statistic.
    cell_h, cell_w = height // rows, width // cols
    cells = gray[: rows * cell_h, : cols * cell_w].reshape(rows, cell_h, cols, cell_w)
    if gray.size > _SAMPLED_ABOVE:
        cells = cells[:, ::2, :, ::2]
    grid = np.percentile(cells.transpose(0, 2, 1, 3).reshape(rows, cols, -1), percentile, axis=2)
    grid = grid.astype(np.float32)
    if rows == cols == 1:
        return np.full(gray.shape, grid[0, 0], dtype=np.float32)
    grid = _median3x3(grid)
    field = Image.fromarray(grid).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(field, dtype=np.float32)


def _sampled(values: FloatImage) -> FloatImage:
    """Every other row and column of a large image (see ``_SAMPLED_ABOVE``), else all of it."""
    return values[::2, ::2] if values.size > _SAMPLED_ABOVE else values


def _grid(shape: tuple[int, ...], cell: int) -> tuple[int, int]:
    """Rows and columns of cells about ``cell`` pixels wide."""
    return int(np.clip(shape[0] // cell, 1, _MAX_CELLS)), int(
        np.clip(shape[1] // cell, 1, _MAX_CELLS)
    )


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


def _median3x3(grid: FloatImage) -> FloatImage:
    padded = np.pad(grid, 1, mode="edge")
    rows, cols = grid.shape
    shifted = [padded[i : i + rows, j : j + cols] for i in range(3) for j in range(3)]
    return np.median(np.stack(shifted), axis=0).astype(np.float32)
