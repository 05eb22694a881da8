"""``/health``: liveness and readiness probes for orchestrators and load balancers."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app import errors
from app.protocols.native.error_docs import error_responses
from app.protocols.native.schemas import LiveResponse, ModelRef, ReadyResponse
from app.repository.registry import ModelRegistry

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=LiveResponse)
async def live() -> LiveResponse:
    """Always 200 while the process runs."""
    return LiveResponse()


@router.get(
    "/ready",
    response_model=ReadyResponse,
    responses=error_responses(errors.ModelNotReadyError, errors.DrainingError),
)
async def ready(request: Request) -> ReadyResponse:
    """200 once every required model has a version available; 503 before, and while draining."""
    if request.app.state.drain.active:
        raise errors.DrainingError(
            "the server is shutting down: it finishes its requests but takes no new ones"
        )
    registry: ModelRegistry = request.app.state.registry
    missing = registry.missing_required()
    default = registry.models.get(registry.default_model)
    if missing or default is None or default.newest is None:
        waiting = missing or [registry.default_model]
        raise errors.ModelNotReadyError(
            f"waiting for a version of: {', '.join(waiting)}", details={"models": waiting}
        )
    served = [
        ModelRef(name=record.name, version=record.newest.version)
        for _, record in sorted(registry.models.items())
        if record.newest is not None
    ]
    return ReadyResponse(
        model=ModelRef(name=default.name, version=default.newest.version), models=served
    )
