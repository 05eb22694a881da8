"""Prometheus metrics: HTTP traffic, model calls, predictions, the model repository, memory.

Each app gets its own registry (tests build many apps in one process; the global registry would
reject the second one's metrics as duplicates). What every request updates is kept in
:mod:`.tallies`, which cost a fraction of prometheus_client's locked metrics; the rest (model
loads, the repository, the process) are prometheus_client's own. With several workers on one
port, :mod:`.multiprocess` merges every worker's metrics into each scrape.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.multiprocess import WorkerMetrics
from app.observability.tallies import CounterTally, HistogramTally, TallyCollector
from app.workers import shared_dir

# Requests take from ~100 µs (a prediction) to a few ms (a weights figure).
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# A cache hit loads in milliseconds; a compile imports TensorFlow in a child: seconds.
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
UNMATCHED_ROUTE = "unmatched"  # not the raw path: a scanner's random URLs must not add series


class Metrics:
    """The service's metrics, on a registry of their own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.worker: WorkerMetrics | None = None  # set when several workers share the port
        self.shared_dir = shared_dir()
        if self.shared_dir is None:
            ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, cpu, fds
        else:
            # A scrape reaches one worker: the process collector would describe only that one.
            self.worker_memory = Gauge(
                "mnist_worker_resident_memory_bytes",
                "Resident memory of each live worker process (label pid).",
                registry=self.registry,
                multiprocess_mode="liveall",
            )
        self.requests = CounterTally(
            "http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
        )
        self.latency = HistogramTally(
            "http_request_duration_seconds",
            "Time from receiving a request to sending the end of its response.",
            ["method", "route"],
            LATENCY_BUCKETS,
        )
        self.batch_size = HistogramTally(
            "mnist_batch_size",
            "Images per model call (requests coalesced by the micro-batcher count together).",
            [],
            BATCH_BUCKETS,
        )
        self.predictions = CounterTally(
            "mnist_predictions", "Images classified, by predicted digit.", ["digit"]
        )
        for digit in range(10):  # every digit has a series from the start, even at 0
            self.predictions.add((digit,), 0)
        self.model_requests = CounterTally(
            "mnist_model_requests",
            "Prediction requests answered, by the model and version that computed them.",
            ["model", "version"],
        )
        TallyCollector(
            self.registry,
            self.requests,
            self.latency,
            self.batch_size,
            self.predictions,
            self.model_requests,
        )
        self.versions_loaded = Gauge(
            "mnist_model_versions_loaded",
            "Versions of each model available for requests (with several workers: in every one).",
            ["model"],
            registry=self.registry,
            multiprocess_mode="livemin",
        )
        self.load_seconds = Histogram(
            "mnist_model_load_seconds",
            "Time to load one version: compile-cache lookup, compile if needed, verify, warm up.",
            ["model"],
            buckets=LOAD_BUCKETS,
            registry=self.registry,
        )
        self.load_failures = Counter(
            "mnist_model_load_failures",
            "Versions that failed to load (they stay in state error until their files change).",
            ["model"],
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            "mnist_compile_cache_lookups",
            (
                "Compile-cache lookups by result: hit, miss, rejected (an entry failed its"
                " checks), failed (the compiler refused these files before)."
            ),
            ["result"],
            registry=self.registry,
        )

    def set_versions_loaded(self, model: str, count: int) -> None:
        self.versions_loaded.labels(model).set(count)

    def observe_load(self, model: str, seconds: float, cache: str, succeeded: bool) -> None:
        self.cache_lookups.labels(cache).inc()
        if succeeded:
            self.load_seconds.labels(model).observe(seconds)
        else:
            self.load_failures.labels(model).inc()

    def count_model_request(self, model: str, version: int) -> None:
        self.model_requests.add((model, version))

    def observe_batch(self, size: int) -> None:
        self.batch_size.observe((), size)

    def count_predictions(self, digits: Iterable[int]) -> None:
        for digit in digits:
            self.predictions.add((digit,))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.add((method, route, status))
        self.latency.observe((method, route), seconds)

    def start_worker(self) -> None:
        """Share this worker's metrics with the others (only when several share the port)."""
        if self.shared_dir is not None and self.worker is None:
            tallies = (
                self.requests,
                self.latency,
                self.batch_size,
                self.predictions,
                self.model_requests,
            )
            self.worker = WorkerMetrics(self.shared_dir, tallies, self.worker_memory)

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    def exposition(self) -> bytes:
        """The registry in Prometheus text format (every worker's, merged, with several)."""
        if self.worker is not None:
            return self.worker.exposition()
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware that counts and times every HTTP request by its route template.

    Pure ASGI rather than ``BaseHTTPMiddleware``, which would add a task and a memory stream to
    every request. The route is read from ``scope["route"]``, which Starlette's router fills in.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before starting a response

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            self.metrics.observe_request(
                scope["method"], template, status, time.perf_counter() - start
            )
