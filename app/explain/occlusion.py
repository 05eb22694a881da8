"""Occlusion: what happens to the predicted digit's score when a patch of ink is blanked out.

Model-agnostic: it only calls the compiled model. Each ``patch x patch`` window on a grid of the
given ``stride`` that holds ink is set to 0 (MNIST's background) in a copy of the image; an
image and all its copies go to the model in one batch. The score
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

    ``predict`` is called once per image, with the image followed by its occluded copies (at
    most 197 rows for the 2x2 grid: one interpreter bucket). One call per image rather than one
    for the request: the compiled model serves one call at a time, and a request of many images
    must not hold it for long while other requests wait for their predictions.
    """
    masks = grid.masks
    flat_masks = masks.reshape(len(masks), -1).astype(np.float64)
    evidence = np.zeros((len(pixels), IMAGE_SIZE, IMAGE_SIZE), dtype=np.float64)
    originals = np.zeros(len(pixels), dtype=np.float64)
    for index, image in enumerate(pixels):
        inked = image > 0
        windows = np.flatnonzero((masks & inked).any(axis=(1, 2)))
        copies = np.where(masks[windows], np.uint8(0), image)
        batch = np.concatenate([image[np.newaxis], copies]).astype(np.uint8, copy=False)
        scores = log_odds(predict(batch), np.full(len(batch), digits[index]))
        drops = scores[0] - scores[1:]
        summed = (drops @ flat_masks[windows]).reshape(IMAGE_SIZE, IMAGE_SIZE)
        evidence[index] = np.where(inked, summed / grid.coverage, 0.0)
        originals[index] = scores[0]
    return evidence, originals
