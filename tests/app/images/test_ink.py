"""The median filter of the ink module gives exactly Pillow's MedianFilter(3)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from app.images.ink import denoise


def pillow_median(gray: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(gray).filter(ImageFilter.MedianFilter(3)), np.float32)


@pytest.mark.parametrize("shape", [(512, 512), (64, 300), (97, 64), (513, 77)])
@pytest.mark.parametrize("levels", ["continuous", "few levels", "grey levels"])
def test_denoise_is_pillows_3x3_median_with_repeated_edges(
    shape: tuple[int, int], levels: str
) -> None:
    rng = np.random.default_rng(sum(shape))
    values = {
        "continuous": rng.random(shape) * 255,
        "few levels": rng.integers(0, 3, shape),  # ties everywhere
        "grey levels": rng.integers(0, 256, shape),
    }[levels].astype(np.float32)
    np.testing.assert_array_equal(denoise(values), pillow_median(values))


def test_small_images_are_left_as_they_are() -> None:
    values = np.arange(63 * 80, dtype=np.float32).reshape(63, 80)
    assert denoise(values) is values
