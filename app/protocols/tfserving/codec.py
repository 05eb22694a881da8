"""TensorFlow Serving's REST predict bodies: the row (``instances``) and columnar (``inputs``)
formats, to images and back.

An image is either numbers (integers: grey levels 0 to 255; floats: [0, 1]) shaped 28x28,
28x28x1 or 784, or an encoded file as ``{"b64": "..."}``, as TF Serving's image clients send.
Instances may name the input (``{"images": ...}``) or not; a request must not mix numbers and
files. Rows answer ``{"predictions": [...]}``, columns ``{"outputs": {...}}``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from app.contract import INPUT, SERVING_SIGNATURE, Probabilities
from app.protocols.standard_errors import ProtocolError


@dataclass
class PredictRequest:
    """Either ``files`` (encoded images) or ``pixels`` (numbers, shape as sent), and the format."""

    columnar: bool
    files: list[bytes] | None = None
    pixels: npt.NDArray[Any] | None = None


def parse_predict(body: bytes) -> PredictRequest:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"the request is not valid JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise ProtocolError("the request must be a JSON object with 'instances' or 'inputs'")
    signature = request.get("signature_name", SERVING_SIGNATURE)
    if signature != SERVING_SIGNATURE:
        raise ProtocolError(
            f"unknown signature_name {signature!r}; the model serves {SERVING_SIGNATURE!r}"
        )
    if ("instances" in request) == ("inputs" in request):
        raise ProtocolError("send exactly one of 'instances' (rows) and 'inputs' (columns)")
    if "instances" in request:
        instances = request["instances"]
        if not isinstance(instances, list) or not instances:
            raise ProtocolError("'instances' must be a non-empty list")
        return _images([_unnamed(instance) for instance in instances], columnar=False)
    inputs = _unnamed(request["inputs"])
    if not isinstance(inputs, list) or not inputs:
        raise ProtocolError(f"'inputs' must hold a non-empty list of images for {INPUT!r}")
    return _images(inputs, columnar=True)


def _unnamed(value: Any) -> Any:
    """An input given by name (``{"images": x}``) as just ``x``; ``{"b64": ...}`` stays."""
    if isinstance(value, dict) and "b64" not in value:
        unknown = sorted(set(value) - {INPUT})
        if unknown or INPUT not in value:
            raise ProtocolError(
                f"unknown input {unknown or sorted(value)}; the model takes {INPUT!r}"
            )
        return value[INPUT]
    return value


def _images(images: list[Any], *, columnar: bool) -> PredictRequest:
    files = [isinstance(image, dict) for image in images]
    if all(files):
        return PredictRequest(columnar, files=[_b64(image) for image in images])
    if any(files):
        raise ProtocolError("a request must not mix encoded images ({'b64': ...}) and pixels")
    try:
        pixels = np.asarray(images)
    except ValueError as exc:
        raise ProtocolError(f"the images are not a regular array: {exc}") from exc
    if pixels.dtype.kind not in "iuf":
        raise ProtocolError("pixels must be numbers (grey levels 0-255, or floats in [0, 1])")
    return PredictRequest(columnar, pixels=pixels)


def _b64(image: dict[str, Any]) -> bytes:
    text = image.get("b64")
    if set(image) != {"b64"} or not isinstance(text, str):
        raise ProtocolError('an encoded image is {"b64": "<base64 of the file>"}')
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"'b64' is not valid base64: {exc}") from exc


def encode_predictions(probabilities: Probabilities, *, columnar: bool) -> bytes:
    digits = probabilities.argmax(axis=1)
    if columnar:
        outputs = {"probabilities": probabilities, "digit": digits}
        return orjson.dumps({"outputs": outputs}, option=orjson.OPT_SERIALIZE_NUMPY)
    rows = [
        {"probabilities": row, "digit": int(digit)}
        for row, digit in zip(probabilities, digits, strict=True)
    ]
    return orjson.dumps({"predictions": rows}, option=orjson.OPT_SERIALIZE_NUMPY)
