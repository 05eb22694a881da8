"""The Open Inference Protocol's health, metadata and configuration routes.

Server readiness is the native ``/health/ready``'s (every required model has a version
available); a model is ready when it has a version available (or, with a version in the path,
when that version is). The model configuration is Triton's JSON form, which ``tritonclient``'s
``get_model_config`` reads; the repository index lists every version the registry knows, and
load and unload map onto the repository's lifecycle: unloading retires every version after its
requests and keeps the model out of polling, loading serves it again (or a model outside
``MNIST_MODELS``) with what the version policy wants, as a poll would.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from app.contract import IMAGE_SIZE, INPUT, NUM_CLASSES, OUTPUT
from app.protocols.native.predict import path_version
from app.protocols.standard_errors import ProtocolError, StandardRoute, documented
from app.protocols.v2.infer import DIGIT
from app.repository.registry import ModelRecord, ModelRegistry, VersionState, unknown_version
from app.repository.watcher import RepositoryWatcher
from app.traffic.drain import Drain

SERVER_NAME = "mnist-serving"
# Exactly the extensions implemented, as GET /v2 must list them.
EXTENSIONS = ["binary_tensor_data", "classification", "model_configuration", "model_repository"]
PLATFORM = "tensorflow_savedmodel"
INPUTS = [{"name": INPUT, "datatype": "UINT8", "shape": [-1, IMAGE_SIZE, IMAGE_SIZE]}]
OUTPUTS = [
    {"name": OUTPUT, "datatype": "FP32", "shape": [-1, NUM_CLASSES]},
    {"name": DIGIT, "datatype": "INT64", "shape": [-1]},
]
_TRITON_STATES = {
    VersionState.AVAILABLE: "READY",
    VersionState.LOADING: "LOADING",
    VersionState.UNLOADING: "UNLOADING",
    VersionState.ERROR: "UNAVAILABLE",
}

router = APIRouter(tags=["open inference protocol v2"], route_class=StandardRoute)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


def _draining(request: Request) -> bool:
    """Whether SIGTERM started the drain: readiness turns 503 so that traffic moves away."""
    drain: Drain = request.app.state.drain
    return drain.active


def _record(request: Request) -> ModelRecord:
    return _registry(request).record_of(request.path_params["name"])


@router.get("/v2/health/live")
async def live(request: Request) -> Response:
    """Liveness: the process answers."""
    return _json({"live": True})


def _readiness(*fields: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses of a readiness route: the same JSON object for 200 and 503."""
    properties: dict[str, Any] = {"name": {"type": "string"}, "ready": {"type": "boolean"}}
    schema = {
        "type": "object",
        "required": list(fields),
        "properties": {field: properties[field] for field in fields},
    }
    content = {"application/json": {"schema": schema}}
    return {
        200: {"description": "Ready.", "content": content},
        503: {"description": "Not ready (or the server is draining).", "content": content},
    }


@router.get("/v2/health/ready", responses=_readiness("ready"))
async def ready(request: Request) -> Response:
    """Readiness: every required model has a version available (503 until then, and on drain)."""
    is_ready = not _registry(request).missing_required() and not _draining(request)
    return _json({"ready": is_ready}, 200 if is_ready else 503)


@router.get("/v2")
async def server_metadata(request: Request) -> Response:
    """The server's name, version and the protocol extensions it implements."""
    return _json({"name": SERVER_NAME, "version": request.app.version, "extensions": EXTENSIONS})


def _metadata(record: ModelRecord, versions: list[int]) -> dict[str, Any]:
    return {
        "name": record.name,
        "versions": [str(version) for version in versions],
        "platform": PLATFORM,
        "inputs": INPUTS,
        "outputs": OUTPUTS,
    }


@router.get("/v2/models/{name}", responses=documented(404))
async def model_metadata(request: Request) -> Response:
    """The model's available versions and its input and output tensors."""
    record = _record(request)
    return _json(_metadata(record, record.available()))


@router.get("/v2/models/{name}/versions/{version}", responses=documented(404, 503))
async def version_metadata(request: Request) -> Response:
    """One version's input and output tensors (404 for a version the model does not have)."""
    record, version = _record(request), path_version(request)
    _registry(request).lease(record.name, version).release()  # 404 or 503 as for a request
    return _json(_metadata(record, [version]))


@router.get("/v2/models/{name}/ready", responses={**documented(404), **_readiness("name", "ready")})
async def model_ready(request: Request) -> Response:
    """200 when the model has a version available, 503 otherwise (and while draining)."""
    record = _record(request)
    is_ready = record.newest is not None and not _draining(request)
    return _json({"name": record.name, "ready": is_ready}, 200 if is_ready else 503)


@router.get(
    "/v2/models/{name}/versions/{version}/ready",
    responses={**documented(404), **_readiness("name", "ready")},
)
async def version_ready(request: Request) -> Response:
    """200 when this version is available, 503 otherwise (and while draining)."""
    record, version = _record(request), path_version(request)
    served = record.versions.get(version)
    if served is None:
        raise unknown_version(record, version)
    is_ready = served.state is VersionState.AVAILABLE and not _draining(request)
    return _json({"name": record.name, "ready": is_ready}, 200 if is_ready else 503)


@router.get("/v2/models/{name}/versions/{version}/config", responses=documented(404))
async def version_config(request: Request) -> Response:
    """One version's configuration (the model's: every version shares the serving contract)."""
    record, version = _record(request), path_version(request)
    if version not in record.versions:
        raise unknown_version(record, version)
    return await model_config(request)


@router.get("/v2/models/{name}/config", responses=documented(404))
async def model_config(request: Request) -> Response:
    """The model configuration in Triton's JSON form, as tritonclient's get_model_config reads."""
    record = _record(request)
    max_batch: int = request.app.state.settings.max_files
    return _json(
        {
            "name": record.name,
            "platform": PLATFORM,
            "max_batch_size": max_batch,
            "input": [{"name": INPUT, "data_type": "TYPE_UINT8", "dims": [IMAGE_SIZE, IMAGE_SIZE]}],
            "output": [
                {"name": OUTPUT, "data_type": "TYPE_FP32", "dims": [NUM_CLASSES]},
                {"name": DIGIT, "data_type": "TYPE_INT64", "dims": [1], "reshape": {"shape": []}},
            ],
            "version_policy": {"specific": {"versions": record.available()}},
        }
    )


@router.post("/v2/repository/index")
async def repository_index(request: Request) -> Response:
    """Every version of every model, with its state (READY, LOADING, UNLOADING, UNAVAILABLE)."""
    registry = _registry(request)
    entries = [
        {
            "name": record.name,
            "version": str(number),
            "state": _TRITON_STATES[served.state],
            "reason": served.reason or "",
        }
        for record in sorted(registry.models.values(), key=lambda r: r.name)
        for number, served in sorted(record.versions.items())
    ]
    return _json(entries)


@router.post("/v2/repository/models/{name}/load", responses=documented(400, 404, 408, 503))
async def load_model(request: Request) -> Response:
    """Serve the model (again), loading what the version policy wants of it now."""
    watcher: RepositoryWatcher = request.app.state.watcher
    body = await request.body()
    if body.strip() not in (b"", b"{}"):
        try:
            parameters = orjson.loads(body).get("parameters") or {}
        except (orjson.JSONDecodeError, AttributeError):
            raise ProtocolError("the load request must be a JSON object") from None
        if parameters:
            raise ProtocolError(
                f"load parameters {sorted(parameters)} are not supported: the repository on disk"
                " is the configuration (add a version folder to change what is served)"
            )
    record = await watcher.load(request.path_params["name"])
    if record.newest is None:
        reasons = "; ".join(
            f"version {n}: {v.reason}" for n, v in sorted(record.versions.items()) if v.reason
        )
        raise ProtocolError(f"failed to load {record.name!r}: {reasons or 'no servable version'}")
    return _json({})


@router.post("/v2/repository/models/{name}/unload", responses=documented(404))
async def unload_model(request: Request) -> Response:
    """Stop serving the model: its versions retire once their requests finish."""
    watcher: RepositoryWatcher = request.app.state.watcher
    await watcher.unload(request.path_params["name"])
    return _json({})
