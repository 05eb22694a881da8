"""TensorFlow Serving's REST API (and KServe's v1, which mirrors it) for every model.

``GET /v1/models/{name}[/versions/{v}]`` is the model status, whose body also carries KServe
v1's ``name`` and ``ready``; ``.../metadata`` is the ``serving_default`` signature in TF
Serving's JSON shape; ``POST /v1/models/{name}[/versions/{v}]:predict`` takes rows or columns
(:mod:`.codec`). Errors are ``{"error": message}``, as TF Serving answers them.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from app.batch import Upload
from app.contract import SERVING_SIGNATURE
from app.dataplane import infer_files, infer_pixels
from app.errors import UnknownVersionError
from app.protocols.native.predict import PredictLimits, path_version
from app.protocols.native.uploads import read_body
from app.protocols.standard_errors import ProtocolError, StandardRoute, documented
from app.protocols.tensors import to_pixels
from app.protocols.tfserving.codec import encode_predictions, parse_predict
from app.repository.registry import (
    ModelRecord,
    ModelRegistry,
    ServedVersion,
    VersionState,
    unknown_version,
)
from app.runtime.servable import TensorSpec

OUTPUTS = ("probabilities", "digit")  # what :predict answers
router = APIRouter(tags=["tensorflow serving rest"], route_class=StandardRoute)
# The :predict routes are a router of their own, which the app puts at the head of its routing
# table: behind the others, matching them cost ~100 µs a request (a third of a prediction).
predict_router = APIRouter(tags=["tensorflow serving rest"], route_class=StandardRoute)

_STATES = {
    VersionState.LOADING: "LOADING",
    VersionState.AVAILABLE: "AVAILABLE",
    VersionState.UNLOADING: "UNLOADING",
    VersionState.ERROR: "END",
}
_DTYPES = {"uint8": "DT_UINT8", "float32": "DT_FLOAT", "int64": "DT_INT64", "int32": "DT_INT32"}


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


def _version_status(served: ServedVersion) -> dict[str, Any]:
    failed = served.state is VersionState.ERROR
    return {
        "version": str(served.version),
        "state": _STATES[served.state],
        "status": {
            "error_code": "UNKNOWN" if failed else "OK",
            "error_message": (served.reason or "") if failed else "",
        },
    }


def _status(record: ModelRecord, versions: list[ServedVersion]) -> Response:
    return _json(
        {
            "model_version_status": [_version_status(served) for served in versions],
            "name": record.name,  # KServe v1
            "ready": any(served.state is VersionState.AVAILABLE for served in versions),
        }
    )


@router.get("/v1/models/{name}", responses=documented(404))
async def model_status(request: Request) -> Response:
    """Every version's state, as TF Serving's GetModelStatus; also KServe v1's readiness."""
    record = _registry(request).record_of(request.path_params["name"])
    return _status(record, [record.versions[n] for n in sorted(record.versions, reverse=True)])


@router.get("/v1/models/{name}/versions/{version}", responses=documented(404))
async def version_status(request: Request) -> Response:
    """One version's state."""
    record = _registry(request).record_of(request.path_params["name"])
    served = record.versions.get(path_version(request))
    if served is None:
        raise unknown_version(record, request.path_params["version"])
    return _status(record, [served])


@router.get("/v1/models/{name}/labels/{label}", responses=documented(404))
async def label_status(request: Request) -> Response:
    """Version labels are not configured here: a 404 naming the versions to use instead."""
    record = _registry(request).record_of(request.path_params["name"])
    versions = ", ".join(map(str, sorted(record.versions))) or "none"
    raise UnknownVersionError(
        f"model {record.name!r} has no version label {request.path_params['label']!r};"
        f" address a version by number ({versions})"
    )


def _tensors(specs: dict[str, TensorSpec]) -> dict[str, Any]:
    return {
        name: {
            "dtype": _DTYPES.get(spec.dtype, f"DT_{spec.dtype.upper()}"),
            "tensor_shape": {
                "dim": [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape],
                "unknown_rank": False,
            },
            "name": f"{SERVING_SIGNATURE}_{name}:0",
        }
        for name, spec in specs.items()
    }


async def _metadata(request: Request, version: int | None) -> Response:
    served = _registry(request).lease(request.path_params["name"], version)
    try:
        servable = served.servable
        assert servable is not None
        signature = {
            "inputs": _tensors(servable.inputs),
            "outputs": _tensors({n: s for n, s in servable.outputs.items() if n in OUTPUTS}),
            "method_name": "tensorflow/serving/predict",
        }
    finally:
        served.release()
    return _json(
        {
            "model_spec": {
                "name": served.model,
                "signature_name": "",
                "version": str(served.version),
            },
            "metadata": {"signature_def": {"signature_def": {SERVING_SIGNATURE: signature}}},
        }
    )


@router.get("/v1/models/{name}/metadata", responses=documented(404, 503))
async def model_metadata(request: Request) -> Response:
    """The served version's serving_default signature, as TF Serving's GetModelMetadata."""
    return await _metadata(request, None)


@router.get("/v1/models/{name}/versions/{version}/metadata", responses=documented(404, 503))
async def version_metadata(request: Request) -> Response:
    """One version's serving_default signature."""
    return await _metadata(request, path_version(request))


async def _predict(request: Request, version: int | None) -> Response:
    state = request.app.state
    limits: PredictLimits = state.predict_limits
    served = _registry(request).lease(request.path_params["name"], version)
    try:
        parsed = parse_predict(await read_body(request, limits.uploads))
        if parsed.files is not None:
            uploads = [Upload(data) for data in parsed.files]
            if len(uploads) > limits.uploads.max_files:
                raise ProtocolError(
                    f"the request holds {len(uploads)} images; send 1 to {limits.uploads.max_files}"
                )
            _, probabilities = await infer_files(
                served,
                state.metrics,
                uploads,
                limits.images,
                limits.default_options,
                state.admission.decoding,
            )
        else:
            assert parsed.pixels is not None
            pixels = to_pixels(
                parsed.pixels, parsed.pixels.shape, "images", limits.uploads.max_files
            )
            probabilities = await infer_pixels(served, state.metrics, pixels)
    finally:
        served.release()
    return Response(
        encode_predictions(probabilities, columnar=parsed.columnar), media_type="application/json"
    )


# The body is parsed by .codec, so it is described here by hand.
_IMAGE = {
    "description": (
        "One image: grey levels 0-255 or floats in [0, 1], as 28x28 rows, 28x28x1, or 784"
        ' values; or an encoded file as {"b64": "<base64 PNG/JPEG/...>"}.'
    ),
    "oneOf": [
        {"type": "array", "minItems": 28, "maxItems": 784},
        {
            "type": "object",
            "required": ["b64"],
            "properties": {"b64": {"type": "string", "contentEncoding": "base64"}},
        },
    ],
}
_IMAGES = {"type": "array", "minItems": 1, "maxItems": 64, "items": _IMAGE}
PREDICT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "TF Serving's REST predict request: `instances` (one image per row) or `inputs`"
            " (columnar), either the images themselves or an object naming the input `images`."
        ),
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "signature_name": {"type": "string", "enum": [SERVING_SIGNATURE]},
                        "instances": {
                            "oneOf": [
                                _IMAGES,
                                {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 64,
                                    "items": {
                                        "type": "object",
                                        "required": ["images"],
                                        "properties": {"images": _IMAGE},
                                        "additionalProperties": False,
                                    },
                                },
                            ]
                        },
                        "inputs": {
                            "oneOf": [
                                _IMAGES,
                                {
                                    "type": "object",
                                    "required": ["images"],
                                    "properties": {"images": _IMAGES},
                                    "additionalProperties": False,
                                },
                            ]
                        },
                    },
                    "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}],
                }
            }
        },
    }
}
_PREDICT_ERRORS = documented(400, 404, 408, 413, 503)


@predict_router.post(
    "/v1/models/{name}:predict", openapi_extra=PREDICT_OPENAPI, responses=_PREDICT_ERRORS
)
async def predict(request: Request) -> Response:
    """Predict with the newest available version: TF Serving (and KServe v1) REST."""
    return await _predict(request, None)


@predict_router.post(
    "/v1/models/{name}/versions/{version}:predict",
    openapi_extra=PREDICT_OPENAPI,
    responses=_PREDICT_ERRORS,
)
async def predict_version(request: Request) -> Response:
    """Predict with one version: TF Serving REST."""
    return await _predict(request, path_version(request))
