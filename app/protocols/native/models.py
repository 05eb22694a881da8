"""The repository as resources: ``GET /models``, one model, one version, and ``GET /model``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from app import errors
from app.contract import SERVING_SIGNATURE
from app.protocols.native.error_docs import error_responses
from app.protocols.native.schemas import ModelInfo, SignatureInfo, TensorInfo
from app.protocols.native.status_schemas import (
    IgnoredEntry,
    ModelDetail,
    ModelStatus,
    RepositoryStatus,
    VersionInfo,
    VersionStatus,
)
from app.repository.registry import ModelRecord, ModelRegistry, ServedVersion, unknown_version
from app.runtime.servable import Servable, TensorSpec

router = APIRouter(tags=["model"])

ModelName = Annotated[str, Path(description="A model in the repository.", examples=["mnist"])]
Version = Annotated[str, Path(description="One of the model's versions.", examples=["1"])]


def _registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


@router.get("/models", response_model=RepositoryStatus)
async def list_models(request: Request) -> RepositoryStatus:
    """Every model with its versions and each version's state (loading, available, error...)."""
    registry = _registry(request)
    return RepositoryStatus(
        default_model=registry.default_model,
        version_policy=str(request.app.state.settings.version_policy),
        models=[_status(registry, record) for _, record in sorted(registry.models.items())],
    )


@router.get(
    "/models/{name}",
    response_model=ModelDetail,
    responses=error_responses(errors.UnknownModelError, errors.InvalidRequestError),
)
async def model_detail(request: Request, name: ModelName) -> ModelDetail:
    """One model: its versions' states, and the signature and metadata of the served version."""
    registry = _registry(request)
    record = registry.record_of(name)
    served = record.newest
    return ModelDetail(
        **_status(registry, record).model_dump(),
        served=_version_info(served) if served is not None else None,
    )


@router.get(
    "/models/{name}/versions/{version}",
    response_model=VersionInfo,
    responses=error_responses(
        errors.UnknownModelError, errors.UnknownVersionError, errors.InvalidRequestError
    ),
)
async def version_detail(request: Request, name: ModelName, version: Version) -> VersionInfo:
    """One version: its state (with the reason of an error), signature and metadata."""
    record = _registry(request).record_of(name)
    served = record.versions.get(int(version)) if version.isascii() and version.isdigit() else None
    if served is None:
        raise unknown_version(record, version)
    return _version_info(served)


@router.get(
    "/model", response_model=ModelInfo, responses=error_responses(errors.ModelNotReadyError)
)
async def model_info(request: Request) -> ModelInfo:
    """The default model's served version: name, version, signature and metadata.json."""
    served = _registry(request).lease()
    try:
        assert served.servable is not None
        return _model_info(served.servable)
    finally:
        served.release()


def _status(registry: ModelRegistry, record: ModelRecord) -> ModelStatus:
    return ModelStatus(
        name=record.name,
        default=record.name == registry.default_model,
        ready=record.newest is not None,
        served_version=record.newest.version if record.newest is not None else None,
        required=record.required,
        problem=record.problem,
        ignored=[IgnoredEntry(entry=e, reason=r) for e, r in sorted(record.ignored.items())],
        versions=[
            VersionStatus(
                version=number,
                state=served.state.value,
                reason=served.reason,
                load_seconds=round(served.load_seconds, 3) if served.load_seconds else None,
                cache=served.cache,
            )
            for number, served in sorted(record.versions.items())
        ],
    )


def _version_info(served: ServedVersion) -> VersionInfo:
    servable = served.servable
    info = VersionInfo(
        name=served.model, version=served.version, state=served.state.value, reason=served.reason
    )
    if servable is not None:
        info.signature = _signature(servable)
        info.metadata = servable.metadata
        info.weight_maps = servable.weights is not None
    return info


def _model_info(servable: Servable) -> ModelInfo:
    return ModelInfo(
        name=servable.name,
        version=servable.version,
        signature=_signature(servable),
        metadata=servable.metadata,
    )


def _signature(servable: Servable) -> SignatureInfo:
    return SignatureInfo(
        name=SERVING_SIGNATURE,
        inputs=_tensors(servable.inputs),
        outputs=_tensors(servable.outputs),
    )


def _tensors(specs: dict[str, TensorSpec]) -> dict[str, TensorInfo]:
    return {
        name: TensorInfo(dtype=spec.dtype, shape=list(spec.shape))
        for name, spec in sorted(specs.items())
    }
