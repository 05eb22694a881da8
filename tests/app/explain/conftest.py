"""TensorFlow's own logits for the test SavedModel, the reference the exact explanation must hit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.app.conftest import MODEL_NAME

Logits = Callable[[np.ndarray[Any, np.dtype[np.uint8]]], np.ndarray[Any, np.dtype[np.float32]]]


@pytest.fixture(scope="session")
def saved_model_logits(model_dir: Path) -> Logits:
    """``uint8 [N, 28, 28]`` -> ``logits [N, 10]`` from the SavedModel's ``serving_default``."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(model_dir / MODEL_NAME / "1"))

    def logits(
        images: np.ndarray[Any, np.dtype[np.uint8]],
    ) -> np.ndarray[Any, np.dtype[np.float32]]:
        signature = loaded.signatures["serving_default"]  # through ``loaded``: keeps it alive
        return np.asarray(signature(images=tf.constant(images, dtype=tf.uint8))["logits"])

    return logits
