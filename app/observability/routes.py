"""``GET /metrics``: the service's Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

router = APIRouter(prefix="/metrics", tags=["monitoring"])


@router.get(
    "",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def metrics(request: Request) -> Response:
    """Request counts and latencies, batch sizes, predictions per digit, model, process memory."""
    registry = request.app.state.metrics
    return Response(registry.exposition(), media_type=registry.content_type)
