"""``/health``: liveness and readiness probes for orchestrators and load balancers."""

from __future__ import annotations

from fastapi import APIRouter

from app import errors
from app.dependencies import RuntimeDep
from app.protocols.native.error_docs import error_responses
from app.protocols.native.schemas import LiveResponse, ModelRef, ReadyResponse

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=LiveResponse)
async def live() -> LiveResponse:
    """Always 200 while the process runs."""
    return LiveResponse()


@router.get(
    "/ready",
    response_model=ReadyResponse,
    responses=error_responses(errors.ModelNotReadyError),
)
async def ready(runtime: RuntimeDep) -> ReadyResponse:
    """200 once the model is loaded and warmed up, 503 before."""
    return ReadyResponse(model=ModelRef(name=runtime.name, version=runtime.version))
