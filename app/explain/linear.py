"""The exact explanation of a linear model: each pixel's contribution to the predicted logit.

For ``logits = x W + b`` with ``x`` the pixels scaled to [0, 1] (as the models' shared input
function scales them), pixel ``i``'s contribution to digit ``k`` is ``x[i] * W[i, k]``: the
contributions of all 784 pixels plus ``b[k]`` add up to ``logits[k]`` exactly, up to float
round-off. Background pixels (0) contribute nothing, so, like occlusion, the map shows what the
ink does.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from app.contract import IMAGE_SIZE, Pixels
from app.runtime.servable import LinearWeights

Evidence = npt.NDArray[np.float64]


def linear_contributions(
    weights: LinearWeights, pixels: Pixels, digits: npt.NDArray[np.integer]
) -> Evidence:
    """``float64 [N, 28, 28]``: ``x[i] * W[i, digit]`` for each pixel of each image."""
    x = pixels.reshape(len(pixels), IMAGE_SIZE * IMAGE_SIZE).astype(np.float64) / 255.0
    columns = weights.W.astype(np.float64)[:, digits].T  # [N, 784]: each image's digit column
    # + 0.0 turns the -0.0 of background pixels under negative weights into 0.0.
    contributions: Evidence = (x * columns + 0.0).reshape(len(pixels), IMAGE_SIZE, IMAGE_SIZE)
    return contributions
