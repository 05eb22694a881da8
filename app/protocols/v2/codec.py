"""Open Inference Protocol v2 bodies: tensors in JSON or binary, to numpy and back.

A request body is a JSON header, optionally followed by binary tensor data (the binary tensor
data extension): the ``Inference-Header-Content-Length`` header says where the JSON ends, and
each input with ``parameters.binary_data_size`` takes that many bytes of the rest, in input
order. A response is built the same way when any output is asked for in binary. BYTES tensors
in binary are each element's 4-byte little-endian length followed by its bytes (Triton's
serialisation); in JSON they are strings, here base64 of the encoded image, or ``{"b64": ...}``.
Every rule a request can break raises :class:`ProtocolError` with the rule in its message.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from app.errors import BodyTooLargeError
from app.protocols.standard_errors import ProtocolError

# v2 datatypes and their numpy types (BYTES is a list of bytes objects, not an array).
NUMPY_TYPES: dict[str, npt.DTypeLike] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
_LENGTH = struct.Struct("<I")
HEADER_LENGTH = "inference-header-content-length"


@dataclass
class Tensor:
    """One input tensor as sent: numbers as an array, BYTES as a list of bytes."""

    name: str
    datatype: str
    shape: list[int]
    data: npt.NDArray[Any] | list[bytes]
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class RequestedOutput:
    name: str
    binary: bool
    classification: int = 0


@dataclass
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    outputs: list[RequestedOutput] | None  # None: every output
    parameters: dict[str, Any]


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be a JSON object")
    return value


def _parameters(value: Any, what: str) -> dict[str, Any]:
    return {} if value is None else _object(value, f"{what} 'parameters'")


# zlib's wbits for the Content-Encodings tritonclient compresses requests with.
_ENCODINGS = {"gzip": 31, "deflate": 15}


def decoded(body: bytes, headers: Mapping[str, str], max_bytes: int) -> bytes:
    """The body with its Content-Encoding (gzip, deflate) undone, held to the same byte limit."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in _ENCODINGS:
        raise ProtocolError(f"Content-Encoding {encoding!r} is not supported: use gzip or deflate")
    stream = zlib.decompressobj(_ENCODINGS[encoding])
    try:
        data = stream.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise ProtocolError(f"the {encoding} body cannot be decompressed: {exc}") from exc
    if len(data) > max_bytes:
        raise BodyTooLargeError(
            f"the decompressed request body exceeds the limit of {max_bytes} bytes",
            details={"max_bytes": max_bytes},
        )
    if not stream.eof:
        raise ProtocolError(f"the {encoding} body is truncated")
    return data


def parse_request(body: bytes, header_length: str | None) -> InferRequest:
    """The request in ``body``; ``header_length`` is the Inference-Header-Content-Length."""
    json_part, binary = body, b""
    if header_length is not None:
        valid = header_length.isascii() and header_length.isdigit()
        if not valid or not 0 < int(header_length) <= len(body):
            raise ProtocolError(
                f"Inference-Header-Content-Length {header_length!r} is not a byte count within"
                f" the {len(body)}-byte body"
            )
        json_part, binary = body[: int(header_length)], body[int(header_length) :]
    if not json_part:
        raise ProtocolError("the request body is empty: send a JSON inference request")
    try:
        header = orjson.loads(json_part)
    except orjson.JSONDecodeError as exc:
        hint = ""
        if header_length is None and "after document" in str(exc):  # JSON, then binary data
            hint = " (binary tensor data needs the Inference-Header-Content-Length header)"
        raise ProtocolError(f"the request is not valid JSON{hint}: {exc}") from exc
    header = _object(header, "the request")
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError("'id' must be a string")
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ProtocolError("'inputs' must be a non-empty list of tensors")
    inputs, offset = [], 0
    for raw in raw_inputs:
        tensor, offset = _input(_object(raw, "each input"), binary, offset)
        inputs.append(tensor)
    if offset != len(binary):
        raise ProtocolError(
            f"the body has {len(binary) - offset} bytes of binary data that no input claims"
        )
    return InferRequest(
        request_id,
        inputs,
        _outputs(header),
        _parameters(header.get("parameters"), "the request"),
    )


def _input(raw: dict[str, Any], binary: bytes, offset: int) -> tuple[Tensor, int]:
    name, datatype, shape = raw.get("name"), raw.get("datatype"), raw.get("shape")
    if not isinstance(name, str):
        raise ProtocolError("each input needs a string 'name'")
    if not isinstance(datatype, str) or (datatype not in NUMPY_TYPES and datatype != "BYTES"):
        raise ProtocolError(f"input {name!r}: unknown datatype {datatype!r}")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ProtocolError(f"input {name!r}: 'shape' must be a list of non-negative integers")
    parameters = _parameters(raw.get("parameters"), f"input {name!r}")
    count = math.prod(shape)
    size = parameters.get("binary_data_size")
    if size is not None and "data" in raw:
        raise ProtocolError(f"input {name!r} has both 'data' and binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ProtocolError(f"input {name!r}: binary_data_size must be a byte count")
        if offset + size > len(binary):
            raise ProtocolError(
                f"input {name!r}: binary_data_size {size} overruns the {len(binary) - offset}"
                " bytes of binary data left in the body"
            )
        chunk = binary[offset : offset + size]
        data = _from_binary(name, datatype, chunk, count)
        return Tensor(name, datatype, shape, data, parameters), offset + size
    if "data" not in raw:
        raise ProtocolError(f"input {name!r} has neither 'data' nor binary_data_size")
    return Tensor(
        name, datatype, shape, _from_json(name, datatype, raw["data"], count), parameters
    ), offset


def _from_binary(
    name: str, datatype: str, chunk: bytes, count: int
) -> npt.NDArray[Any] | list[bytes]:
    if datatype == "BYTES":
        return _split_bytes(name, chunk, count)
    dtype = np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")
    if len(chunk) != count * dtype.itemsize:
        raise ProtocolError(
            f"input {name!r}: {len(chunk)} bytes of {datatype} data do not fill the shape's"
            f" {count} elements ({count * dtype.itemsize} bytes)"
        )
    return np.frombuffer(chunk, dtype=dtype)


def _split_bytes(name: str, chunk: bytes, count: int) -> list[bytes]:
    elements, position = [], 0
    while position < len(chunk):
        if position + 4 > len(chunk):
            raise ProtocolError(f"input {name!r}: a BYTES element's length is cut off")
        (length,) = _LENGTH.unpack_from(chunk, position)
        position += 4
        if position + length > len(chunk):
            raise ProtocolError(f"input {name!r}: a BYTES element overruns its binary data")
        elements.append(chunk[position : position + length])
        position += length
    if len(elements) != count:
        raise ProtocolError(
            f"input {name!r}: {len(elements)} BYTES elements for a shape of {count} elements"
        )
    return elements


def _from_json(name: str, datatype: str, data: Any, count: int) -> npt.NDArray[Any] | list[bytes]:
    if not isinstance(data, list):
        raise ProtocolError(f"input {name!r}: 'data' must be a list")
    if datatype == "BYTES":
        flat = _flatten(data)
        if len(flat) != count:
            raise ProtocolError(
                f"input {name!r}: {len(flat)} BYTES elements for a shape of {count} elements"
            )
        return [_decode_b64(name, element) for element in flat]
    if datatype == "UINT8" and data and type(data[0]) is int:
        pixels = _flat_uint8(data)
        if pixels is not None and pixels.size == count:
            return pixels
    try:
        array = np.asarray(data)
    except ValueError as exc:  # ragged nesting
        raise ProtocolError(f"input {name!r}: 'data' is not a regular array: {exc}") from exc
    if array.size != count:
        raise ProtocolError(
            f"input {name!r}: 'data' has {array.size} elements, the shape needs {count}"
        )
    if count and array.dtype.kind not in _JSON_KINDS[datatype]:
        raise ProtocolError(
            f"input {name!r}: 'data' does not hold {datatype} values (found {array.dtype})"
        )
    dtype = np.dtype(NUMPY_TYPES[datatype])
    if dtype.kind in "iu" and count:
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise ProtocolError(f"input {name!r}: values outside the range of {datatype}")
    return array.reshape(-1).astype(dtype, copy=False)


def _flat_uint8(data: list[Any]) -> npt.NDArray[np.uint8] | None:
    """A flat list of integers 0-255 as uint8, or None for anything else (the general path's).

    An image's pixels are the commonest numeric tensor: ``bytearray`` converts and range-checks
    them in one C loop (~2 µs for 784) where ``np.asarray`` and the range check take ~17 µs. It
    refuses what the general path would refuse or word differently (nested lists, floats,
    strings, values out of range) with an exception. Booleans pass as 0 and 1, as they do in
    ``np.asarray`` when the list starts with an integer, the only case the caller sends here.
    """
    try:
        return np.frombuffer(bytearray(data), dtype=np.uint8)
    except (TypeError, ValueError):
        return None


# numpy kinds JSON numbers may take for each datatype: no floats for integers, no bools for numbers.
_JSON_KINDS = {
    **{name: "iu" for name in NUMPY_TYPES if name.startswith(("INT", "UINT"))},
    **dict.fromkeys(("FP16", "FP32", "FP64"), "iuf"),
    "BOOL": "b",
}


def _flatten(data: list[Any]) -> list[Any]:
    """Nested lists in row-major order, without recursion (JSON may nest 1,000 deep)."""
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for element in stack[-1]:
            if isinstance(element, list):
                stack.append(iter(element))
                break
            flat.append(element)
        else:
            stack.pop()
    return flat


def _decode_b64(name: str, element: Any) -> bytes:
    text = element.get("b64") if isinstance(element, dict) else element
    if not isinstance(text, str):
        raise ProtocolError(f"input {name!r}: BYTES elements in JSON must be base64 strings")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"input {name!r}: an element is not valid base64: {exc}") from exc


def _outputs(header: dict[str, Any]) -> list[RequestedOutput] | None:
    raw_outputs = header.get("outputs")
    default_binary = _parameters(header.get("parameters"), "the request").get(
        "binary_data_output", False
    )
    if not isinstance(default_binary, bool):
        raise ProtocolError("binary_data_output must be true or false")
    if raw_outputs is None or raw_outputs == []:  # none named: every output
        return None if not default_binary else [RequestedOutput("*", binary=True)]
    if not isinstance(raw_outputs, list):
        raise ProtocolError("'outputs' must be a list")
    requested: list[RequestedOutput] = []
    for raw in raw_outputs:
        raw = _object(raw, "each requested output")
        name = raw.get("name")
        if not isinstance(name, str):
            raise ProtocolError("each requested output needs a string 'name'")
        parameters = _parameters(raw.get("parameters"), f"output {name!r}")
        binary = parameters.get("binary_data", bool(default_binary))
        classes = parameters.get("classification", 0)
        if not isinstance(binary, bool):
            raise ProtocolError(f"output {name!r}: binary_data must be true or false")
        if not isinstance(classes, int) or isinstance(classes, bool) or classes < 0:
            raise ProtocolError(f"output {name!r}: classification must be a count of classes")
        if any(output.name == name for output in requested):
            raise ProtocolError(f"output {name!r} is requested twice")
        requested.append(RequestedOutput(name, binary, classes))
    return requested


@dataclass
class OutputTensor:
    name: str
    datatype: str
    shape: list[int]
    data: npt.NDArray[Any] | list[bytes]
    binary: bool


def encode_response(
    header: dict[str, Any], outputs: list[OutputTensor]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary data follows it."""
    described, blobs = [], []
    for output in outputs:
        entry: dict[str, Any] = {
            "name": output.name,
            "datatype": output.datatype,
            "shape": output.shape,
        }
        if output.binary:
            blob = _to_binary(output)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        elif isinstance(output.data, list):
            entry["data"] = [element.decode() for element in output.data]
        else:
            entry["data"] = output.data.reshape(-1)
        described.append(entry)
    body = orjson.dumps({**header, "outputs": described}, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return body, None
    return body + b"".join(blobs), len(body)


def _to_binary(output: OutputTensor) -> bytes:
    if isinstance(output.data, list):
        return b"".join(_LENGTH.pack(len(element)) + element for element in output.data)
    return output.data.astype(output.data.dtype.newbyteorder("<"), copy=False).tobytes()
