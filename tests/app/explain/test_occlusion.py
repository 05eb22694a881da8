"""Occlusion on a synthetic model whose answer is known: the evidence sits on the deciding ink.

The stand-in scores a "7" as a vertical stroke plus a top bar and a "1" as the stroke alone, so
the bar is the ink that tells a 7 from a 1; a blob in the corner is evidence for a "3". Blanking
the bar costs the 7 most (blue), blanking the blob helps it (red).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from app.explain.explainer import GRID
from app.explain.occlusion import OcclusionGrid, log_odds, occlusion_evidence

STROKE = (slice(6, 24), slice(17, 20))
BAR = (slice(5, 8), slice(8, 20))
BLOB = (slice(20, 26), slice(3, 8))


class SevenOrOne:
    """A non-linear stand-in for a compiled model; counts its calls and batch sizes."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        self.batches.append(len(pixels))
        x = pixels.astype(np.float64) / 255.0
        stroke, bar, blob = (
            x[(slice(None), *region)].mean(axis=(1, 2)) for region in (STROKE, BAR, BLOB)
        )
        logits = np.zeros((len(pixels), 10))
        logits[:, 1] = 5.0 + 3.0 * stroke  # 1 and 7 far above the other digits but the 3
        logits[:, 7] = 5.0 + 3.0 * stroke + 6.0 * np.sqrt(bar)
        logits[:, 3] = 5.0 * blob
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities: npt.NDArray[np.float32] = (exp / exp.sum(axis=1, keepdims=True)).astype(
            np.float32
        )
        return probabilities


def seven(blob: bool = False) -> npt.NDArray[np.uint8]:
    image = np.zeros((28, 28), np.uint8)
    image[STROKE] = 255
    image[BAR] = 200
    if blob:
        image[BLOB] = 255
    return image


@pytest.mark.parametrize("grid", [GRID, OcclusionGrid(patch=4, stride=2)])
def test_evidence_is_highest_on_the_ink_that_makes_it_a_seven(grid: OcclusionGrid) -> None:
    model = SevenOrOne()
    image = seven(blob=True)
    digits = model(image[np.newaxis]).argmax(axis=1)
    assert digits.tolist() == [7]

    evidence, scores = occlusion_evidence(model, image[np.newaxis], digits, grid)

    bar, stroke = np.zeros((2, 28, 28), bool)
    bar[BAR] = stroke[STROKE] = True
    strongest = np.unravel_index(np.argmax(evidence[0]), (28, 28))
    assert bar[strongest], f"the strongest evidence is at {strongest}, not on the bar"
    bar_only, stroke_only = bar & ~stroke, stroke & ~bar  # where they cross, both matter
    assert evidence[0][bar_only].mean() > 2 * evidence[0][stroke_only].mean() > 0
    assert evidence[0][BLOB].max() < 0  # ink for a 3 is evidence against the 7
    assert np.all(evidence[0][image == 0] == 0)  # blanking background changes nothing
    assert scores[0] == pytest.approx(log_odds(model(image[np.newaxis]), digits)[0])


def test_a_pixel_covered_by_one_window_gets_that_windows_drop() -> None:
    model = SevenOrOne()
    image = seven()
    digits = np.array([7])
    evidence, scores = occlusion_evidence(model, image[np.newaxis], digits, GRID)

    assert GRID.patch == GRID.stride  # the served grid tiles the image: one window per pixel
    blanked = image.copy()
    blanked[6:8, 10:12] = 0  # the window holding pixel (6, 10)
    drop = scores[0] - log_odds(model(blanked[np.newaxis]), digits)[0]
    assert evidence[0, 6, 10] == pytest.approx(drop, rel=1e-6)


def test_each_image_and_all_its_copies_go_to_the_model_in_one_call() -> None:
    model = SevenOrOne()
    images = np.stack([seven(), seven(blob=True), np.zeros((28, 28), np.uint8)])
    digits = np.array([7, 7, 0])
    evidence, _ = occlusion_evidence(model, images, digits, GRID)

    inked = [int((GRID.masks & (image > 0)).any(axis=(1, 2)).sum()) for image in images]
    assert model.batches == [1 + count for count in inked]  # only windows with ink are copied
    assert inked[2] == 0
    assert np.all(evidence[2] == 0)


def test_log_odds_keep_their_precision_for_a_confident_model() -> None:
    probabilities = np.full((1, 10), 1e-9, np.float32)
    probabilities[0, 4] = 1.0  # 1 - p in float32 would be 0: summed from the others instead
    assert log_odds(probabilities, np.array([4]))[0] == pytest.approx(-np.log(9e-9), rel=1e-6)
    saturated = np.eye(10, dtype=np.float32)[[2]]
    assert np.isfinite(log_odds(saturated, np.array([2]))[0])


def test_the_windows_cover_the_whole_image() -> None:
    for grid in (GRID, OcclusionGrid(patch=4, stride=2), OcclusionGrid(patch=5, stride=2)):
        assert grid.coverage.min() >= 1
        assert grid.masks.sum(axis=(1, 2)).tolist() == [grid.patch**2] * len(grid.masks)
