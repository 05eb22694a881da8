"""Occlusion: what happens to the predicted digit's score when a patch of ink is blanked out.

Model-agnostic: it only calls the compiled model. Each ``patch x patch`` window on a grid of the
given ``stride`` that holds ink is set to 0 (MNIST's background) in a copy of the image; the
copies of every image of a request, with the originals, go to the model in one batch. The score
is the predicted digit's log-odds, ``log p_k - log(1 - p_k)`` (with ``1 - p_k`` summed from the
other nine probabilities, so a confident ``p_k`` of 0.99999 keeps its precision), because a
confident model's probability barely moves when a patch goes while its log-odds still do. A
window's *drop* is the original score minus the occluded one: positive where the ink supports
the digit. A pixel's evidence is the mean drop of the windows covering it; only inked pixels get
one (blanking background changes nothing, so it has none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from app.contract import IMAGE_SIZE, Pixels, Probabilities

Evidence = npt.NDArray[np.float64]
# Probabilities under this are treated as this: the log-odds of a saturated float32 softmax
# (the other nine underflow to 0) stay finite, at most ~87.
_FLOOR = float(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class OcclusionGrid:
    """Square windows of ``patch`` pixels every ``stride`` pixels, the last flush with the edge."""

    patch: int = 4
    stride: int = 2

    @cached_property
    def masks(self) -> npt.NDArray[np.bool_]:
        """``bool [windows, 28, 28]``: True inside each window."""
        starts = list(range(0, IMAGE_SIZE - self.patch + 1, self.stride))
        if starts[-1] != IMAGE_SIZE - self.patch:
            starts.append(IMAGE_SIZE - self.patch)
        masks = np.zeros((len(starts) ** 2, IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
        for index, (row, col) in enumerate((r, c) for r in starts for c in starts):
            masks[index, row : row + self.patch, col : col + self.patch] = True
        return masks

    @cached_property
    def coverage(self) -> npt.NDArray[np.float64]:
        """``[28, 28]``: how many windows cover each pixel."""
        counts: npt.NDArray[np.float64] = self.masks.sum(axis=0).astype(np.float64)
        return counts


def log_odds(probabilities: Probabilities, digits: npt.NDArray[np.integer]) -> Evidence:
    """``log p_k - log(sum of the other p_j)`` per row, for each row's digit ``k``."""
    p = probabilities.astype(np.float64)
    chosen = np.zeros(p.shape, dtype=bool)
    chosen[np.arange(len(p)), digits] = True
    mine = np.where(chosen, p, 0.0).sum(axis=1)
    others = np.where(chosen, 0.0, p).sum(axis=1)
    odds: Evidence = np.log(np.maximum(mine, _FLOOR)) - np.log(np.maximum(others, _FLOOR))
    return odds


def occlusion_evidence(
    predict: Callable[[Pixels], Probabilities],
    pixels: Pixels,
    digits: npt.NDArray[np.integer],
    grid: OcclusionGrid,
) -> tuple[Evidence, Evidence]:
    """Evidence ``float64 [N, 28, 28]`` and the unoccluded log-odds ``[N]`` of each image.

    ``predict`` is called once, with the originals followed by every occluded copy.
    """
    masks = grid.masks
    count = len(pixels)
    inked = [np.flatnonzero((masks & (image > 0)).any(axis=(1, 2))) for image in pixels]
    copies = [
        np.where(masks[windows], np.uint8(0), image)
        for image, windows in zip(pixels, inked, strict=True)
    ]
    batch = np.concatenate([pixels, *copies]).astype(np.uint8, copy=False)
    owners = np.repeat(np.arange(count), [len(windows) for windows in inked])
    scores = log_odds(predict(batch), np.concatenate([digits, digits[owners]]))
    original, occluded = scores[:count], scores[count:]
    drops = original[owners] - occluded
    evidence = np.zeros((count, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float64)
    flat_masks = masks.reshape(len(masks), -1).astype(np.float64)
    start = 0
    for index, windows in enumerate(inked):
        image_drops = drops[start : start + len(windows)]
        start += len(windows)
        summed = (image_drops @ flat_masks[windows]).reshape(IMAGE_SIZE, IMAGE_SIZE)
        evidence[index] = np.where(pixels[index] > 0, summed / grid.coverage, 0.0)
    return evidence, original
