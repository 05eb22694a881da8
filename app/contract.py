"""The serving contract every model in the repository follows, whatever its architecture.

A SavedModel's ``serving_default`` signature takes ``images`` ``uint8 [N, 28, 28]`` (MNIST
polarity: 0 is background) and returns at least ``probabilities`` ``float32 [N, 10]`` and
``digit`` ``int64 [N]``. A model may also export a ``weights`` signature with ``W`` [784, 10] and
``b`` [10] (a linear layer on the pixels), which the weight-map pictures are drawn from.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IMAGE_SIZE = 28
NUM_CLASSES = 10
SERVING_SIGNATURE = "serving_default"
WEIGHTS_SIGNATURE = "weights"
INPUT = "images"
OUTPUT = "probabilities"
REQUIRED_OUTPUTS = (OUTPUT, "digit")

Pixels = npt.NDArray[np.uint8]
Probabilities = npt.NDArray[np.float32]
