"""The Prometheus metrics and the ASGI middleware that records HTTP traffic."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI, Response
from prometheus_client.parser import text_string_to_metric_families

from app.observability.metrics import Metrics, MetricsMiddleware


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition, keyed by name and label set."""
    text = metrics.exposition().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


def instrumented_app(metrics: Metrics) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/metrics")
    def expose() -> Response:
        return Response(metrics.exposition(), media_type=metrics.content_type)

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def get(app: FastAPI, *paths: str) -> list[httpx.Response]:
    """GET each path in turn through the ASGI app (app exceptions become 500 responses)."""

    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(fetch())


def test_requests_are_counted_by_route_template_and_status() -> None:
    metrics = Metrics()
    paths = ["/items/1", "/items/2", "/items/3", "/items/x", "/boom", "/no/such/page"]
    statuses = [r.status_code for r in get(instrumented_app(metrics), *paths)]
    assert statuses == [200, 200, 200, 422, 500, 404]

    found = samples(metrics)
    route = "/items/{item_id}"
    assert found["http_requests_total", labels(method="GET", route=route, status="200")] == 3
    assert found["http_requests_total", labels(method="GET", route=route, status="422")] == 1
    assert found["http_requests_total", labels(method="GET", route="/boom", status="500")] == 1
    unmatched = labels(method="GET", route="unmatched", status="404")
    assert found["http_requests_total", unmatched] == 1
    count = found["http_request_duration_seconds_count", labels(method="GET", route=route)]
    assert count == 4


def test_the_exposition_is_served_in_prometheus_text_format() -> None:
    metrics = Metrics()
    (response,) = get(instrumented_app(metrics), "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"http_requests", "process_resident_memory_bytes", "mnist_batch_size"} <= names


def test_the_repository_is_recorded() -> None:
    metrics = Metrics()
    metrics.set_versions_loaded("mnist", 2)
    metrics.observe_load("mnist", 0.02, "hit", succeeded=True)
    metrics.observe_load("mnist", 7.5, "miss", succeeded=True)
    metrics.observe_load("mnist-cnn", 3.0, "miss", succeeded=False)
    metrics.count_model_request("mnist", 3)
    metrics.count_model_request("mnist", 3)
    metrics.count_model_request("mnist", 2)

    found = samples(metrics)
    assert found["mnist_model_versions_loaded", labels(model="mnist")] == 2
    assert found["mnist_model_load_seconds_count", labels(model="mnist")] == 2
    assert found["mnist_model_load_seconds_bucket", labels(model="mnist", le="0.05")] == 1
    assert found["mnist_model_load_failures_total", labels(model="mnist-cnn")] == 1
    assert found["mnist_compile_cache_lookups_total", labels(result="hit")] == 1
    assert found["mnist_compile_cache_lookups_total", labels(result="miss")] == 2
    assert found["mnist_model_requests_total", labels(model="mnist", version="3")] == 2
    assert found["mnist_model_requests_total", labels(model="mnist", version="2")] == 1


def test_model_batches_and_predictions_are_recorded() -> None:
    metrics = Metrics()
    for size in (1, 1, 5, 64):
        metrics.observe_batch(size)
    metrics.count_predictions([7, 7, 1, 0, 7])

    found = samples(metrics)
    assert found["mnist_batch_size_count", labels()] == 4
    assert found["mnist_batch_size_sum", labels()] == 71
    assert found["mnist_batch_size_bucket", labels(le="1.0")] == 2
    assert found["mnist_predictions_total", labels(digit="7")] == 3
    assert found["mnist_predictions_total", labels(digit="1")] == 1
    assert found["mnist_predictions_total", labels(digit="5")] == 0
    assert found["process_resident_memory_bytes", labels()] > 0


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.count_predictions([4])
    assert samples(first)["mnist_predictions_total", labels(digit="4")] == 1
    assert samples(second)["mnist_predictions_total", labels(digit="4")] == 0
