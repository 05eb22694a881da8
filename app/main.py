"""The FastAPI application: ``create_app()`` builds it, its lifespan loads the model once.

``uvicorn app.main:app`` serves the module-level ``app``; creating it reads the settings but loads
nothing, so importing this module is cheap. The model is loaded (and warmed up) when the server
starts the app; if that fails the server logs one line saying why and exits non-zero.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError

from app.config import Settings
from app.errors import install_error_handlers
from app.observability import routes as metrics
from app.observability.context import REQUEST_ID_HEADER
from app.observability.logs import configure_logging, flush_logs
from app.observability.metrics import Metrics, MetricsMiddleware
from app.observability.middleware import RequestContextMiddleware, StartupFailureMiddleware
from app.protocols.native import health, predict
from app.protocols.native import models as model
from app.runtime.batching import MicroBatcher
from app.runtime.servable import ModelRuntime
from app.web import page as ui
from app.web import weights

DESCRIPTION = """
Recognises handwritten digits with a softmax-regression model trained on MNIST.

Send 28x28 images (light digit on dark ground, like MNIST) to **POST /predict**, as
multipart `files` parts or as one raw `image/*` body. Every error, on every endpoint, has the
same JSON shape: `{"error": {"status", "code", "message", "request_id"}}`, and every response
carries an `X-Request-ID` header.
"""

TAGS = [
    {"name": "predict", "description": "Classify digit images."},
    {"name": "weights", "description": "The learned weights, as pictures or numbers."},
    {"name": "model", "description": "The model being served."},
    {"name": "health", "description": "Liveness and readiness probes."},
    {"name": "monitoring", "description": "Prometheus metrics."},
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model once, before the server accepts requests."""
    runtime: ModelRuntime = app.state.runtime
    settings: Settings = app.state.settings
    recorder: Metrics = app.state.metrics
    if not runtime.ready:
        await anyio.to_thread.run_sync(runtime.load)
    recorder.set_model(runtime.name, runtime.version, runtime="litert")
    if settings.batching_enabled:
        app.state.batcher = MicroBatcher(
            runtime.probabilities,
            max_batch_size=settings.batch_max_size,
            max_wait_us=settings.batch_max_wait_us,
            on_batch=recorder.observe_batch,
        )
    # Everything alive now (modules, routes, schemas, the model: ~70,000 objects) lives as long
    # as the process. Freezing it keeps the garbage collector from re-scanning it in every full
    # collection, each of which took ~50 ms here: the worst pauses a request could meet.
    gc.freeze()
    try:
        yield
    finally:
        batcher, app.state.batcher = app.state.batcher, None
        if batcher is not None:
            await batcher.close()
        flush_logs()


def settings_from_environment() -> Settings:
    """The settings from ``MNIST_*`` variables; invalid ones stop the process with one line."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MNIST_{'_'.join(map(str, error['loc'])).upper()}: {error['msg']}"
            f" (received {error['input']!r})"
            for error in exc.errors()
        )
        raise SystemExit(f"invalid settings: {problems}") from None


def create_app(settings: Settings | None = None, runtime: ModelRuntime | None = None) -> FastAPI:
    """Build the app; pass ``runtime`` to share an already loaded model (tests, reloads)."""
    settings = settings if settings is not None else settings_from_environment()
    configure_logging(settings.log_level)
    app = FastAPIOffline(
        title="MNIST digit recognition",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        # The service exports its own Prometheus metrics (GET /metrics). FastAPI's native
        # OpenTelemetry hooks would look up the global providers on every request only to find
        # them unconfigured: ~4 % of a prediction's time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.runtime = runtime if runtime is not None else ModelRuntime.from_settings(settings)
    app.state.metrics = Metrics()
    # Created by the lifespan once the model is loaded; without it /predict calls the model
    # directly (also the case in tests that do not run the lifespan).
    app.state.batcher = None
    if runtime is not None and runtime.ready:
        app.state.metrics.set_model(runtime.name, runtime.version, runtime="litert")
    install_error_handlers(app)
    _include_first(app, predict.router)
    for router in (weights.router, model.router, health.router, metrics.router, ui.router):
        app.include_router(router)
    ui.mount_static(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            expose_headers=[REQUEST_ID_HEADER],
        )
    # The last middleware added is the outermost.
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(StartupFailureMiddleware)
    return app


def _include_first(app: FastAPI, router: APIRouter) -> None:
    """Put ``router``'s routes at the head of the app's routing table, as plain routes.

    Starlette tries routes in order, and the documentation routes (``/openapi.json``, ``/docs``,
    ...) were registered when the app was created; ``include_router`` would also wrap the routes
    in FastAPI's included-router matching. Both cost every prediction several microseconds. The
    router's routes already carry its prefix and tags and need nothing from an inclusion.
    """
    app.router.routes[:0] = router.routes


app = create_app()
