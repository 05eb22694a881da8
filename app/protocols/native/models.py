"""``/model``: what is being served, its signature and its training record."""

from __future__ import annotations

from fastapi import APIRouter

from app import errors
from app.dependencies import RuntimeDep
from app.protocols.native.error_docs import error_responses
from app.protocols.native.schemas import ModelInfo, SignatureInfo, TensorInfo
from app.runtime.servable import SERVING_SIGNATURE, TensorSpec

router = APIRouter(prefix="/model", tags=["model"])


@router.get("", response_model=ModelInfo, responses=error_responses(errors.ModelNotReadyError))
async def model_info(runtime: RuntimeDep) -> ModelInfo:
    """The served model's name, version, signature and metadata.json (test accuracy, ...)."""
    return ModelInfo(
        name=runtime.name,
        version=runtime.version,
        signature=SignatureInfo(
            name=SERVING_SIGNATURE,
            inputs=_tensors(runtime.inputs),
            outputs=_tensors(runtime.outputs),
        ),
        metadata=runtime.metadata,
    )


def _tensors(specs: dict[str, TensorSpec]) -> dict[str, TensorInfo]:
    return {
        name: TensorInfo(dtype=spec.dtype, shape=list(spec.shape))
        for name, spec in sorted(specs.items())
    }
