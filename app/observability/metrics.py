"""Prometheus metrics: HTTP traffic, model calls, predictions, the model repository, memory.

Each app gets its own registry (tests build many apps in one process; the global registry would
reject the second one's metrics as duplicates). Label children are looked up once and cached:
``Counter.labels()`` costs a few microseconds per call, a noticeable share of a ~100 µs request.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from typing import TypeVar

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

# Requests take from ~100 µs (a prediction) to a few ms (a weights figure).
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# A cache hit loads in milliseconds; a compile imports TensorFlow in a child: seconds.
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
UNMATCHED_ROUTE = "unmatched"
M = TypeVar(
    "M", Counter, Histogram
)  # not the raw path: a scanner's random URLs must not add series


class Metrics:
    """The service's metrics, on a registry of their own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, cpu, fds
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to sending the end of its response.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "mnist_batch_size",
            "Images per model call (requests coalesced by the micro-batcher count together).",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "mnist_predictions",
            "Images classified, by predicted digit.",
            ["digit"],
            registry=self.registry,
        )
        self.versions_loaded = Gauge(
            "mnist_model_versions_loaded",
            "Versions of each model available for requests.",
            ["model"],
            registry=self.registry,
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
            "Compile-cache lookups by result: hit, miss, or rejected (failed its checks).",
            ["result"],
            registry=self.registry,
        )
        self.model_requests = Counter(
            "mnist_model_requests",
            "Prediction requests answered, by the model and version that computed them.",
            ["model", "version"],
            registry=self.registry,
        )
        self._digits = [self.predictions.labels(digit=str(d)) for d in range(10)]
        self._model_children: dict[tuple[str, ...], Counter] = {}
        self._request_children: dict[tuple[str, ...], Counter] = {}
        self._latency_children: dict[tuple[str, ...], Histogram] = {}

    def set_versions_loaded(self, model: str, count: int) -> None:
        self.versions_loaded.labels(model).set(count)

    def observe_load(self, model: str, seconds: float, cache: str, succeeded: bool) -> None:
        self.cache_lookups.labels(cache).inc()
        if succeeded:
            self.load_seconds.labels(model).observe(seconds)
        else:
            self.load_failures.labels(model).inc()

    def count_model_request(self, model: str, version: int) -> None:
        _child(self._model_children, self.model_requests, model, str(version)).inc()

    def observe_batch(self, size: int) -> None:
        self.batch_size.observe(size)

    def count_predictions(self, digits: Iterable[int]) -> None:
        # Usually one digit per request: counting in Python beats numpy's set-up cost.
        counts = collections.Counter(digits)
        for digit, count in counts.items():
            self._digits[digit].inc(count)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        _child(self._request_children, self.requests, method, route, str(status)).inc()
        _child(self._latency_children, self.latency, method, route).observe(seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


def _child(children: dict[tuple[str, ...], M], metric: M, *labels: str) -> M:
    """``metric.labels(*labels)``, looked up once per label set (the lookup costs µs)."""
    child = children.get(labels)
    if child is None:
        child = children[labels] = metric.labels(*labels)
    return child


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
