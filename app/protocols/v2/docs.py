"""OpenAPI text for the v2 routes: their bodies are parsed by hand, so described by hand too."""

from __future__ import annotations

from typing import Any

# The datatypes the model's input takes: grey levels as integers, floats in [0, 1], or files.
DATATYPES = [
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string", "enum": ["images"], "example": "images"},
        "shape": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "minItems": 1,
            "maxItems": 4,
            "example": [1, 28, 28],
            "description": "[N, 28, 28], [N, 28, 28, 1] or [N, 784]; BYTES: [N] or [N, 1].",
        },
        "datatype": {"type": "string", "enum": DATATYPES, "example": "UINT8"},
        "parameters": {
            "type": "object",
            "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
            "description": "`binary_data_size`: this input's bytes in the binary part.",
        },
        "data": {
            "type": "array",
            "items": {},
            "description": (
                "Row-major values, as many as the shape holds (nested as the shape, or flat);"
                " for BYTES, base64 strings of image files."
            ),
        },
    },
}
_OUTPUT_PARAMETERS = {
    "type": "object",
    "properties": {
        "binary_data": {"type": "boolean"},
        "classification": {"type": "integer", "minimum": 0, "maximum": 10},
    },
    "description": "`binary_data`: true/false; `classification`: top k.",
}
_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {
            "type": "object",
            "properties": {
                "binary_data_output": {"type": "boolean"},
                "normalize": {"type": "string", "enum": ["auto", "always", "never"]},
            },
            "description": "`binary_data_output`: all outputs in binary; `normalize`: auto,"
            " always or never (BYTES inputs).",
        },
        "inputs": {"type": "array", "items": _TENSOR, "minItems": 1, "maxItems": 1},
        "outputs": {
            "type": "array",
            "maxItems": 2,
            "uniqueItems": True,
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {
                        "type": "string",
                        "enum": ["probabilities", "digit"],
                        "example": "probabilities",
                    },
                    "parameters": _OUTPUT_PARAMETERS,
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
