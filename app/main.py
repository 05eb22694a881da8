"""The FastAPI application: ``create_app()`` builds it, its lifespan runs the model repository.

``uvicorn app.main:app`` serves the module-level ``app``; creating it reads the settings but loads
nothing, so importing this module is cheap. When the server starts the app, the lifespan loads
every model the repository and the version policy call for (compile cache first, one TensorFlow
child for the rest) before accepting requests, then keeps polling the repository. If a required
model cannot be served at start-up, the server logs one line saying why and exits non-zero.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from app.config import Settings, settings_from_environment
from app.observability import routes as metrics_routes
from app.observability.context import REQUEST_ID_HEADER
from app.observability.logs import configure_logging, flush_logs
from app.observability.metrics import Metrics, MetricsMiddleware
from app.observability.middleware import RequestContextMiddleware, StartupFailureMiddleware
from app.protocols.native import health, models, predict
from app.protocols.native.cors import CORSMiddleware
from app.protocols.native.errors import install_error_handlers
from app.protocols.prediction_path import PredictionPath
from app.protocols.tfserving import routes as tfserving
from app.protocols.v2 import infer as v2_infer
from app.protocols.v2 import models as v2_models
from app.repository.registry import ModelRecord, ModelRegistry
from app.repository.watcher import RepositoryWatcher
from app.runtime.batching import MicroBatcher
from app.runtime.cache import CompileCache
from app.runtime.loader import ModelLoader
from app.runtime.servable import Servable
from app.traffic import metrics as admission_metrics
from app.traffic.admission import Admission
from app.traffic.allocator import Trimmer
from app.traffic.drain import Drain
from app.traffic.guard import TrafficGuard
from app.web import page, weights
from app.workers import start_worker, stop_worker

DESCRIPTION = """
Recognises handwritten digits with the models of a live model repository (TensorFlow Serving's
layout, `<model>/<version>/`): every model folder is served, new versions are loaded while the
service runs and swapped in without a failed request.

Send digit pictures to **POST /predict** (the default model) or
**POST /models/{name}/predict**, as multipart `files` parts or as one raw `image/*` body: any
size, either polarity (light on dark like MNIST, or dark ink on paper); they are normalised to
MNIST form. **GET /models** lists the models, their versions and each version's state. Every
error, on every endpoint, has the same JSON shape:
`{"error": {"status", "code", "message", "request_id"}}`, and every response carries an
`X-Request-ID` header.
"""

TAGS = [
    {"name": "predict", "description": "Classify digit images."},
    {"name": "model", "description": "The model repository: models, versions, their states."},
    {"name": "weights", "description": "The learned weights, as pictures or numbers."},
    {"name": "health", "description": "Liveness and readiness probes."},
    {"name": "monitoring", "description": "Prometheus metrics."},
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the repository before the server accepts requests; keep it in step until shutdown."""
    watcher: RepositoryWatcher = app.state.watcher
    worker = start_worker(app.state.metrics, app.state.settings.workers)
    await watcher.start()
    # Everything alive now (modules, routes, schemas, the models: ~70,000 objects) lives as
    # long as the process. Freezing it keeps the garbage collector from re-scanning it in every
    # full collection, each of which took ~50 ms here: the worst pauses a request could meet.
    gc.freeze()
    try:
        yield
    finally:
        await watcher.close()
        stop_worker(app.state.metrics, worker)
        flush_logs()


def build_repository(settings: Settings, metrics: Metrics) -> RepositoryWatcher:
    """The registry, the loader and the watcher that keeps them in step with the disk."""

    def make_batcher(servable: Servable) -> MicroBatcher:
        return MicroBatcher(
            servable.probabilities,
            max_batch_size=settings.batch_max_size,
            max_wait_us=settings.batch_max_wait_us,
            on_batch=metrics.observe_batch,
        )

    def on_change(record: ModelRecord) -> None:
        metrics.set_versions_loaded(record.name, len(record.available()))

    registry = ModelRegistry(
        settings.default_model,
        make_batcher=make_batcher if settings.batching_enabled else None,
        on_change=on_change,
    )
    loader = ModelLoader(
        CompileCache(settings.cache_dir), compile_timeout=settings.compile_timeout_s
    )
    return RepositoryWatcher(
        settings.model_dir,
        registry,
        loader,
        policy=settings.version_policy,
        names=settings.models,
        poll_seconds=settings.poll_seconds,
        metrics=metrics,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; nothing is loaded until its lifespan starts."""
    settings = settings if settings is not None else settings_from_environment()
    configure_logging(settings.log_level)
    app = FastAPIOffline(
        title="MNIST digit recognition",
        version="2.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        # The service exports its own Prometheus metrics (GET /metrics). FastAPI's native
        # OpenTelemetry hooks would look up the global providers on every request only to find
        # them unconfigured: ~4 % of a prediction's time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.predict_limits = predict.PredictLimits.from_settings(settings)
    app.state.metrics = Metrics()
    app.state.watcher = build_repository(settings, app.state.metrics)
    app.state.registry = app.state.watcher.registry
    app.state.admission = Admission.split(settings.max_inflight_bytes, settings.queue_timeout_s)
    admission_metrics.register(app.state.admission, app.state.metrics.registry)
    trimmer = Trimmer()  # after a burst of large work, the heap's free memory goes back
    app.state.admission.bodies.on_idle = app.state.admission.decoding.on_idle = trimmer
    app.state.drain = Drain()  # started by python -m app on SIGTERM
    install_error_handlers(app)
    hot_routes = (*predict.router.routes, *v2_infer.router.routes, *tfserving.predict_router.routes)
    _include_first(app, tfserving.predict_router)
    _include_first(app, v2_infer.router)
    _include_first(app, predict.router)
    routers = (
        v2_models.router,
        tfserving.router,
        weights.default_router,
        weights.model_router,
        models.router,
        health.router,
        metrics_routes.router,
        page.router,
    )
    for router in routers:
        app.include_router(router)
    page.mount_static(app)
    _document_limits(app, settings)
    app.add_middleware(
        TrafficGuard,
        budget=app.state.admission.bodies,
        body_timeout=settings.body_timeout_s,
        drain=app.state.drain,
    )
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
    app.state.prediction_path = True  # tests turn it off to compare with the stack alone
    _serve_predictions_first(app, hot_routes)
    return app


def _serve_predictions_first(app: FastAPI, routes: Sequence[BaseRoute]) -> None:
    """Put the prediction path (:mod:`app.protocols.prediction_path`) in front of the stack.

    In front of FastAPI's own outer layers too (server errors, telemetry, a body limit), which
    have nothing to do for it: the path renders every exception, and the app turns FastAPI's
    telemetry off and sets no app-wide body limit. It does the work of exactly the service's
    own middleware, so with any other (CORS, or one added later) predictions take the stack.
    """
    build = app.build_middleware_stack
    standard: list[object] = [
        StartupFailureMiddleware,
        RequestContextMiddleware,
        MetricsMiddleware,
        TrafficGuard,
    ]

    def build_middleware_stack() -> ASGIApp:
        stack = build()
        used: list[object] = [middleware.cls for middleware in app.user_middleware]
        if used != standard or app.max_body_size is not None or not app.state.prediction_path:
            return stack
        return PredictionPath(  # the settings create_app gave the middleware
            stack,
            service=app,
            routes=routes,
            metrics=app.state.metrics,
            budget=app.state.admission.bodies,
            body_timeout=app.state.settings.body_timeout_s,
            drain=app.state.drain,
        )

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]


def _document_limits(app: FastAPI, settings: Settings) -> None:
    """Have the OpenAPI document state this app's configured limits, not the defaults."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = predict.document_limits(generate(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _include_first(app: FastAPI, router: APIRouter) -> None:
    """Put ``router``'s routes at the head of the app's routing table, as plain routes.

    Starlette tries routes in order, and the documentation routes (``/openapi.json``, ``/docs``,
    ...) were registered when the app was created; ``include_router`` would also wrap the routes
    in FastAPI's included-router matching. Both cost every prediction several microseconds. The
    router's routes already carry their paths and tags and need nothing from an inclusion.
    """
    app.router.routes[:0] = router.routes


app = create_app()
