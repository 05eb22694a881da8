"""Numeric image tensors into the model's uint8 input: shapes, integer and float pixels."""

from __future__ import annotations

import numpy as np
import pytest

from app.protocols.standard_errors import ProtocolError
from app.protocols.tensors import to_pixels
from tests.app.samples import mnist_test_set


def test_floats_divided_by_255_come_back_exactly() -> None:
    pixels = mnist_test_set(8)[0]
    floats = pixels.astype(np.float32) / 255.0
    for shape in [(8, 28, 28), (8, 28, 28, 1), (8, 784)]:
        np.testing.assert_array_equal(to_pixels(floats.reshape(shape), shape, "images", 64), pixels)
    ints = pixels.astype(np.int64).reshape(8, 784)
    np.testing.assert_array_equal(to_pixels(ints, ints.shape, "images", 64), pixels)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.zeros((1, 27, 28)), "has shape \\[1, 27, 28\\]"),
        (np.zeros((1, 28, 28, 3)), "has shape"),
        (np.zeros((0, 784)), "holds 0 images"),
        (np.zeros((65, 784)), "holds 65 images; send 1 to 64"),
        (np.full((1, 784), 1.5), "in \\[0, 1\\]"),
        (np.full((1, 784), np.nan), "finite"),
        (np.full((1, 784), 300), "grey levels 0 to 255"),
        (np.full((1, 784), -1), "grey levels 0 to 255"),
        (np.full((1, 784), True), "must be numbers"),
    ],
)
def test_out_of_contract_tensors_are_refused(values: np.ndarray, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        to_pixels(values, values.shape, "images", 64)
