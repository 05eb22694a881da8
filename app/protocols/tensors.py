"""Numeric image tensors, as the standard protocols send them, into the model's ``uint8`` input.

Accepted: ``uint8`` grey levels, or floats in [0, 1] (what TensorFlow Serving's MNIST example
and most notebooks send: the pixels divided by 255, which this turns back exactly), shaped
``[N, 28, 28]``, ``[N, 28, 28, 1]`` or ``[N, 784]``. The protocols' own rules (datatypes, data
lengths) are checked by their codecs before this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from app.contract import IMAGE_SIZE, Pixels
from app.protocols.standard_errors import ProtocolError

SHAPES = ("[N, 28, 28]", "[N, 28, 28, 1]", "[N, 784]")
_PIXELS = IMAGE_SIZE * IMAGE_SIZE


def to_pixels(values: npt.NDArray[Any], shape: Sequence[int], name: str, max_batch: int) -> Pixels:
    """The images of ``values`` (flat or shaped) as ``uint8 [N, 28, 28]``."""
    shape = tuple(shape)
    if not (
        (len(shape) == 3 and shape[1:] == (IMAGE_SIZE, IMAGE_SIZE))
        or (len(shape) == 4 and shape[1:] == (IMAGE_SIZE, IMAGE_SIZE, 1))
        or (len(shape) == 2 and shape[1] == _PIXELS)
    ):
        raise ProtocolError(
            f"input {name!r} has shape {list(shape)}; expected one of {', '.join(SHAPES)}"
        )
    count = shape[0]
    if not 1 <= count <= max_batch:
        raise ProtocolError(f"input {name!r} holds {count} images; send 1 to {max_batch}")
    if values.dtype == np.uint8:
        return values.reshape(count, IMAGE_SIZE, IMAGE_SIZE)
    if values.dtype.kind == "f":
        floats: npt.NDArray[np.float64] = values.astype(np.float64)  # FP16 would overflow below
        if not np.isfinite(floats).all() or floats.min() < 0 or floats.max() > 1:
            raise ProtocolError(
                f"input {name!r}: float pixels must be finite and in [0, 1] (grey level / 255)"
            )
        scaled: Pixels = np.rint(floats * 255).astype(np.uint8)
        return scaled.reshape(count, IMAGE_SIZE, IMAGE_SIZE)
    if values.dtype.kind in "iu":
        if values.min() < 0 or values.max() > 255:
            raise ProtocolError(f"input {name!r}: integer pixels must be grey levels 0 to 255")
        return values.astype(np.uint8).reshape(count, IMAGE_SIZE, IMAGE_SIZE)
    raise ProtocolError(f"input {name!r}: pixels must be numbers, not {values.dtype}")
