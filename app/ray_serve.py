"""The service as a Ray Serve deployment: the same FastAPI app, one copy per replica.

``pip install ".[ray]"`` (or ``make ray``), then ``serve run deploy/ray/serve.yaml`` on a Ray
cluster: Serve's proxy on every node takes HTTP on one port and spreads requests over the
replicas. Each replica builds the app in its own process (``serve.ingress`` with a builder) and
runs its lifespan there, so it loads the model repository (``MNIST_MODEL_DIR``, which must be the
same path on every node: a shared file system or the image's committed models) through the
compile cache before Serve routes anything to it. Serve asks :meth:`MnistReplica.check_health`
every ``health_check_period_s``: a replica without its models fails it and Serve replaces it,
as it replaces a replica whose process died. Responses name the replica in ``X-Ray-Replica``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from ray import serve
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.main import create_app
from app.repository.registry import ModelRegistry

REPLICA_HEADER = b"x-ray-replica"


class ReplicaHeaderMiddleware:
    """Adds ``X-Ray-Replica: <replica id>`` to every response (plain ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp, replica: str) -> None:
        self.app = app
        self.header = (REPLICA_HEADER, replica.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_replica(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, send_with_replica)


def build_app() -> FastAPI:
    """Runs in each replica's process, when Serve starts the replica."""
    app = create_app()
    replica = serve.get_replica_context().replica_id.to_full_id_str()
    app.add_middleware(ReplicaHeaderMiddleware, replica=replica)
    return app


class MnistReplica:
    """A replica: the app built by :func:`build_app` (Serve's ingress sets ``app``), its health."""

    app: FastAPI

    def check_health(self) -> None:
        """Ray's health check: fails unless this replica serves every required model."""
        registry: ModelRegistry = self.app.state.registry
        missing = registry.missing_required()
        default = registry.models.get(registry.default_model)
        if missing or default is None or default.newest is None:
            waiting = ", ".join(missing or [registry.default_model])
            raise RuntimeError(f"waiting for a version of: {waiting}")


# Defaults; a Serve config file (deploy/ray/serve.yaml) overrides them per deployment.
MnistDeployment: Any = serve.deployment(
    name="mnist",
    ray_actor_options={"num_cpus": 1},
    health_check_period_s=2,
    health_check_timeout_s=10,
)(serve.ingress(build_app)(MnistReplica))

# ``serve run app.ray_serve:deployment`` (or import_path in a Serve config file).
deployment = MnistDeployment.bind()
