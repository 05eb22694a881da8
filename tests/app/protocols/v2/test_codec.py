"""v2 bodies: JSON and binary tensors both ways, and a clear 400 for every broken rule."""

from __future__ import annotations

import base64
import struct
from typing import Any

import numpy as np
import orjson
import pytest

from app.protocols.standard_errors import ProtocolError
from app.protocols.v2.codec import OutputTensor, encode_response, parse_request


def request(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **extra})


def images(data: Any, shape: list[int], datatype: str = "UINT8", **extra: Any) -> dict[str, Any]:
    return {"name": "images", "shape": shape, "datatype": datatype, "data": data, **extra}


def binary(header: dict[str, Any], *blobs: bytes) -> tuple[bytes, str]:
    json_part = orjson.dumps(header)
    return json_part + b"".join(blobs), str(len(json_part))


def test_json_numbers_become_an_array_of_the_datatype() -> None:
    pixels = (np.arange(784) % 256).astype(np.uint8).reshape(1, 28, 28)
    parsed = parse_request(request(images(pixels.tolist(), [1, 28, 28]), id="r1"), None)
    (tensor,) = parsed.inputs
    assert parsed.id == "r1"
    assert tensor.datatype == "UINT8"
    assert isinstance(tensor.data, np.ndarray)
    np.testing.assert_array_equal(tensor.data, pixels.reshape(-1))  # nested data flattens
    assert parsed.outputs is None


@pytest.mark.parametrize(
    "data",
    [
        [7, *range(256), *range(255, -1, -1), *[0] * 271],  # every value, as a flat list
        [0, True, False, *[255] * 781],  # booleans after an integer count as 0 and 1
    ],
)
def test_a_flat_uint8_list_gives_the_same_array_as_nested_data(data: list[Any]) -> None:
    flat = parse_request(request(images(data, [1, 28, 28])), None).inputs[0].data
    nested_data = [data[row * 28 : row * 28 + 28] for row in range(28)]
    nested = parse_request(request(images([nested_data], [1, 28, 28])), None).inputs[0].data
    assert isinstance(flat, np.ndarray)
    assert isinstance(nested, np.ndarray)
    assert flat.dtype == nested.dtype == np.uint8
    np.testing.assert_array_equal(flat, nested)
    np.testing.assert_array_equal(flat, np.array(data, dtype=np.int64))
    flat[0] = 1  # writable, like every array the codec returns


def test_binary_numbers_are_read_from_after_the_json_header() -> None:
    values = np.linspace(0, 1, 784, dtype=np.float32)
    header = {"inputs": [images(None, [1, 784], "FP32", parameters={"binary_data_size": 3136})]}
    del header["inputs"][0]["data"]
    body, length = binary(header, values.tobytes())
    (tensor,) = parse_request(body, length).inputs
    assert isinstance(tensor.data, np.ndarray)
    np.testing.assert_array_equal(tensor.data, values)


def test_bytes_in_binary_are_length_prefixed_and_in_json_base64() -> None:
    files = [b"\x89PNG one", b"two"]
    blob = b"".join(struct.pack("<I", len(f)) + f for f in files)
    entry = {"name": "images", "shape": [2], "datatype": "BYTES"}
    body, length = binary(
        {"inputs": [{**entry, "parameters": {"binary_data_size": len(blob)}}]}, blob
    )
    assert parse_request(body, length).inputs[0].data == files
    encoded = [base64.b64encode(files[0]).decode(), {"b64": base64.b64encode(files[1]).decode()}]
    assert parse_request(request({**entry, "data": encoded}), None).inputs[0].data == files


def test_requested_outputs_and_binary_defaults() -> None:
    body = request(
        images([0] * 784, [1, 784]),
        outputs=[
            {"name": "probabilities", "parameters": {"classification": 3}},
            {"name": "digit", "parameters": {"binary_data": False}},
        ],
        parameters={"binary_data_output": True},
    )
    outputs = parse_request(body, None).outputs
    assert outputs is not None
    assert [(o.name, o.binary, o.classification) for o in outputs] == [
        ("probabilities", True, 3),
        ("digit", False, 0),
    ]


def _one(datatype: str = "UINT8", **changes: Any) -> dict[str, Any]:
    return {**images([0] * 784, [1, 28, 28], datatype), **changes}


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        (b"{", None, "not valid JSON"),
        (b"", None, "the request body is empty"),
        (  # JSON has no NaN; a client that writes one anyway is refused, not half-parsed
            b'{"inputs": [{"name": "images", "shape": [1], "datatype": "FP32", "data": [NaN]}]}',
            None,
            "not valid JSON",
        ),
        (b"[]", None, "must be a JSON object"),
        (orjson.dumps({"inputs": []}), None, "non-empty list"),
        (request(_one(datatype="FP8")), None, "unknown datatype"),
        (request(_one(shape=[1, -28, 28])), None, "non-negative integers"),
        (request(_one(shape="1,28,28")), None, "non-negative integers"),
        (request(_one(data=[0] * 700)), None, "has 700 elements, the shape needs 784"),
        (request(_one(data=[[0] * 784, [0]])), None, "not a regular array"),
        (request(_one(data=[True] * 784)), None, "does not hold UINT8"),
        (request(_one(data=[0.5] * 784)), None, "does not hold UINT8"),
        (request(_one(data=[256] * 784)), None, "outside the range of UINT8"),
        (request(_one(data=[0, -1, *[0] * 782])), None, "outside the range of UINT8"),
        (request(_one(data=[0, 0.5, *[0] * 782])), None, "does not hold UINT8"),
        (request(_one(data=[0, "1", *[0] * 782])), None, "does not hold UINT8"),
        (request(_one(data=[0] * 783)), None, "has 783 elements, the shape needs 784"),
        (request(_one(data=[0, [0], *[0] * 782])), None, "not a regular array"),
        (request(_one(data="AAAA")), None, "'data' must be a list"),
        (request({"name": "images", "shape": [1], "datatype": "UINT8"}), None, "neither 'data'"),
        (request(_one(), id=7), None, "'id' must be a string"),
        (request(_one(), outputs=[{"name": 3}]), None, "string 'name'"),
        (
            request(_one(), outputs=[{"name": "digit", "parameters": {"binary_data": "yes"}}]),
            None,
            "binary_data must be true or false",
        ),
        (
            request(_one(), outputs=[{"name": "digit", "parameters": {"classification": -1}}]),
            None,
            "classification must be a count",
        ),
        (request({"name": "x", "shape": [1], "datatype": "BYTES", "data": ["%"]}), None, "base64"),
        (
            request({"name": "x", "shape": [2], "datatype": "BYTES", "data": ["AA=="]}),
            None,
            "1 BYTES",
        ),
        (request(_one()), "lots", "not a byte count"),
        (request(_one()), "0", "not a byte count"),
        (request(_one()), "\u00b2", "not a byte count"),  # a digit to str.isdigit(), not a count
        (request(_one()) + b"\x00\x01", None, "needs the Inference-Header-Content-Length"),
        (request(_one(parameters={"binary_data_size": 784})), None, "both 'data' and"),
        (request(_one(), outputs=[{"name": "digit"}, {"name": "digit"}]), None, "requested twice"),
        (request(_one(), parameters={"binary_data_output": "no"}), None, "true or false"),
        (request(_one()), "99999", "not a byte count"),
    ],
)
def test_every_broken_rule_is_a_clear_protocol_error(
    body: bytes, header: str | None, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_request(body, header)


def binary_images(size: int, blob: bytes, datatype: str = "UINT8") -> tuple[bytes, str]:
    entry = {"name": "images", "shape": [1, 784], "datatype": datatype}
    return binary({"inputs": [{**entry, "parameters": {"binary_data_size": size}}]}, blob)


@pytest.mark.parametrize(
    ("size", "blob", "message"),
    [
        (784, bytes(700), "overruns the 700 bytes"),
        (700, bytes(700), "700 bytes of UINT8 data do not fill"),
        (784, bytes(790), "6 bytes of binary data that no input claims"),
        (-1, bytes(784), "must be a byte count"),
    ],
)
def test_binary_sizes_must_match_the_body(size: int, blob: bytes, message: str) -> None:
    body, length = binary_images(size, blob)
    with pytest.raises(ProtocolError, match=message):
        parse_request(body, length)


def test_bytes_elements_must_not_overrun_their_data() -> None:
    blob = struct.pack("<I", 50) + b"short"
    entry = {"name": "images", "shape": [1], "datatype": "BYTES"}
    body, length = binary(
        {"inputs": [{**entry, "parameters": {"binary_data_size": len(blob)}}]}, blob
    )
    with pytest.raises(ProtocolError, match="overruns its binary data"):
        parse_request(body, length)


def test_responses_in_json_and_in_binary() -> None:
    probabilities = np.full((2, 10), 0.1, dtype=np.float32)
    digits = np.array([3, 4], dtype=np.int64)
    header = {"model_name": "mnist", "model_version": "1"}
    outputs = [
        OutputTensor("probabilities", "FP32", [2, 10], probabilities, binary=True),
        OutputTensor("digit", "INT64", [2], digits, binary=False),
    ]
    body, length = encode_response(header, outputs)
    assert length is not None
    described = orjson.loads(body[:length])
    assert described["outputs"][0]["parameters"] == {"binary_data_size": 80}
    assert "data" not in described["outputs"][0]
    assert described["outputs"][1]["data"] == [3, 4]
    np.testing.assert_array_equal(
        np.frombuffer(body[length:], np.float32).reshape(2, 10), probabilities
    )

    for output in outputs:
        output.binary = False
    body, length = encode_response(header, outputs)
    assert length is None
    assert orjson.loads(body)["outputs"][0]["data"] == pytest.approx([0.1] * 20)


def test_no_named_outputs_means_every_output() -> None:
    assert parse_request(request(_one(), outputs=[]), None).outputs is None


def test_deeply_nested_bytes_data_is_flattened_without_recursion() -> None:
    depth = 1000  # orjson reads nesting to 1,024 deep (and writes far less: built by hand)
    data = b"[" * depth + b'"' + base64.b64encode(b"file") + b'"' + b"]" * depth
    body = b'{"inputs": [{"name": "images", "shape": [1], "datatype": "BYTES", "data": '
    assert parse_request(body + data + b"}]}", None).inputs[0].data == [b"file"]
