"""TF Serving's REST bodies: rows and columns, named or not, pixels or b64 files."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson
import pytest

from app.protocols.standard_errors import ProtocolError
from app.protocols.tfserving.codec import encode_predictions, parse_predict


def body(value: Any) -> bytes:
    return orjson.dumps(value)


def test_rows_and_columns_named_or_not() -> None:
    image = [[0.5] * 28] * 28
    for request, columnar in [
        ({"instances": [image, image]}, False),
        ({"instances": [{"images": image}, {"images": image}]}, False),
        ({"signature_name": "serving_default", "inputs": [image, image]}, True),
        ({"inputs": {"images": [image, image]}}, True),
    ]:
        parsed = parse_predict(body(request))
        assert parsed.columnar is columnar
        assert parsed.pixels is not None
        assert parsed.pixels.shape == (2, 28, 28)


def test_b64_files_as_tf_servings_image_clients_send_them() -> None:
    files = [b"\x89PNG first", b"second"]
    encoded = [{"b64": base64.b64encode(f).decode()} for f in files]
    assert parse_predict(body({"instances": encoded})).files == files
    named = [{"images": e} for e in encoded]
    assert parse_predict(body({"instances": named})).files == files


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        (b"[1]", "JSON object"),
        (b"{", "not valid JSON"),
        (body({"instances": [[0]], "inputs": [[0]]}), "exactly one of"),
        (body({}), "exactly one of"),
        (body({"instances": []}), "non-empty list"),
        (body({"instances": [[0]], "signature_name": "predict_images"}), "unknown signature_name"),
        (body({"instances": [{"pixels": [0]}]}), "unknown input \\['pixels'\\]"),
        (body({"instances": [{"b64": "AA=="}, [0]]}), "must not mix"),
        (body({"instances": [{"b64": "***"}]}), "not valid base64"),
        (body({"instances": [{"b64": 3}]}), 'is {"b64"'),
        (body({"instances": [[0, 1], [0]]}), "not a regular array"),
        (body({"instances": [["a"]]}), "must be numbers"),
    ],
)
def test_every_broken_rule_is_a_clear_protocol_error(request_body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_predict(request_body)


def test_rows_answer_predictions_and_columns_outputs() -> None:
    probabilities = np.eye(10, dtype=np.float32)[[3, 8]]
    rows = orjson.loads(encode_predictions(probabilities, columnar=False))
    assert [row["digit"] for row in rows["predictions"]] == [3, 8]
    assert rows["predictions"][0]["probabilities"][3] == 1.0
    columns = orjson.loads(encode_predictions(probabilities, columnar=True))
    assert columns["outputs"]["digit"] == [3, 8]
    assert len(columns["outputs"]["probabilities"]) == 2
