"""OpenAPI text for the v2 routes: their bodies are parsed by hand, so described by hand too."""

from __future__ import annotations

from typing import Any

_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string", "example": "images"},
        "shape": {"type": "array", "items": {"type": "integer"}, "example": [1, 28, 28]},
        "datatype": {"type": "string", "example": "UINT8"},
        "parameters": {
            "type": "object",
            "description": "`binary_data_size`: this input's bytes in the binary part.",
        },
        "data": {
            "type": "array",
            "items": {},
            "description": "Row-major values; for BYTES, base64 strings of image files.",
        },
    },
}
_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {
            "type": "object",
            "description": "`binary_data_output`: all outputs in binary; `normalize`: auto,"
            " always or never (BYTES inputs).",
        },
        "inputs": {"type": "array", "items": _TENSOR},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "example": "probabilities"},
                    "parameters": {
                        "type": "object",
                        "description": "`binary_data`: true/false; `classification`: top k.",
                    },
                },
            },
        },
    },
}
INFER_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "A JSON inference request, optionally followed by binary tensor data (then the"
            " `Inference-Header-Content-Length` header gives the JSON's length). `images`: UINT8"
            " (or FP32/FP64 in [0, 1]) `[N, 28, 28]`, `[N, 28, 28, 1]` or `[N, 784]`, or BYTES"
            " `[N]` holding PNG/JPEG/... files."
        ),
        "content": {"application/json": {"schema": _REQUEST}},
    },
}
