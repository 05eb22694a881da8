"""The prediction path answers, logs and counts exactly as the middleware stack it stands in for."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from app import dataplane
from app.observability.middleware import RequestContextMiddleware
from app.protocols.prediction_path import PredictionPath
from tests.app.conftest import MODEL_NAME, serving
from tests.app.samples import digit_pixels, png

pytestmark = pytest.mark.anyio

IMAGE = png(digit_pixels())
B64 = base64.b64encode(IMAGE).decode()
V2 = f"/v2/models/{MODEL_NAME}/infer"
V2_BYTES = {"inputs": [{"name": "images", "shape": [1], "datatype": "BYTES", "data": [B64]}]}
PNG_HEADERS = {"Content-Type": "image/png"}
PNG_BODY: dict[str, Any] = {"content": IMAGE, "headers": PNG_HEADERS}
# (method, path, request options): answers, client errors, and requests that are not predictions.
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/predict", PNG_BODY),
    ("POST", "/predict", {"content": IMAGE, "headers": {**PNG_HEADERS, "X-Request-ID": "t-7"}}),
    ("POST", f"/models/{MODEL_NAME}/predict", {"files": {"files": ("d.png", IMAGE)}}),
    ("POST", f"/models/{MODEL_NAME}/versions/1/predict", PNG_BODY),
    ("POST", "/models/nope/predict", PNG_BODY),
    ("POST", "/predict", {"content": b"not an image", "headers": {"Content-Type": "image/png"}}),
    ("POST", V2, {"content": orjson.dumps(V2_BYTES)}),
    ("POST", f"/v2/models/{MODEL_NAME}/versions/1/infer", {"content": orjson.dumps(V2_BYTES)}),
    ("POST", V2, {"content": b"{"}),
    ("POST", "/v2/models/nope/infer", {"content": orjson.dumps(V2_BYTES)}),
    ("POST", f"/v1/models/{MODEL_NAME}:predict", {"json": {"instances": [{"b64": B64}]}}),
    ("POST", f"/v1/models/{MODEL_NAME}:predict", {"json": {"instances": "x"}}),
    ("GET", "/predict", {}),
    ("GET", "/health/live", {}),
]


def without_path(app: FastAPI) -> FastAPI:
    """``app`` with its middleware stack alone, as it was before the prediction path."""
    app.state.prediction_path = False
    return app


def masked(value: Any, request_id: str) -> Any:
    """``value`` with the request id (random unless the client chose it) replaced."""
    text = json.dumps(value).replace(request_id, "<id>")
    return json.loads(text)


async def exchange(
    app: FastAPI, access_log: io.StringIO, requests: list[tuple[str, str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """What a client and an operator see of each request: response, access line, counters."""
    seen = []
    async with serving(app) as client:
        for method, path, options in requests:
            access_log.seek(0)
            access_log.truncate()
            response = await client.request(method, path, **options)
            request_id = response.headers["x-request-id"]
            headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text
            [line] = access_log.getvalue().splitlines()
            entry = json.loads(line)
            assert entry.pop("request_id") == request_id
            assert entry.pop("duration_ms") >= 0
            entry.pop("time")
            seen.append(
                {
                    "status": response.status_code,
                    "headers": headers,
                    "body": masked(body, request_id),
                    "client_id": request_id if request_id == "t-7" else None,
                    "access": entry,
                }
            )
        counted = [
            line
            for line in app.state.metrics.exposition().decode().splitlines()
            if line.startswith(
                ("http_requests_total", "mnist_model_requests_total", "mnist_predictions_total")
            )
        ]
    seen.append({"counters": sorted(counted)})
    return seen


async def test_the_prediction_path_answers_as_the_middleware_stack(
    make_app: Callable[..., FastAPI], access_log: io.StringIO
) -> None:
    with_path = await exchange(make_app(), access_log, REQUESTS)
    stack_only = await exchange(without_path(make_app()), access_log, REQUESTS)
    assert with_path == stack_only
    assert [entry.get("status") for entry in with_path[:-1]] == [
        200, 200, 200, 200, 404, 422, 200, 200, 400, 404, 200, 400, 405, 200,
    ]  # fmt: skip
    assert with_path[1]["client_id"] == "t-7"
    assert any('route="/v2/models/{name}/infer"' in line for line in with_path[-1]["counters"])


async def test_predictions_skip_the_stack_and_other_requests_take_it(
    make_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths: list[str] = []
    stack_entry = RequestContextMiddleware.__call__

    async def spy(self: RequestContextMiddleware, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            paths.append(scope["path"])
        await stack_entry(self, scope, receive, send)

    monkeypatch.setattr(RequestContextMiddleware, "__call__", spy)
    async with serving(make_app()) as client:
        assert (
            await client.post("/predict", content=IMAGE, headers=PNG_HEADERS)
        ).status_code == 200
        assert (await client.post(V2, content=orjson.dumps(V2_BYTES))).status_code == 200
        assert (await client.get("/predict")).status_code == 405
        assert (await client.get("/health/live")).status_code == 200
    assert paths == ["/predict", "/health/live"]
    paths.clear()
    async with serving(make_app(cors_origins=["http://ui.example"])) as client:
        origin = {"Content-Type": "image/png", "Origin": "http://ui.example"}
        response = await client.post("/predict", content=IMAGE, headers=origin)
        assert response.headers["access-control-allow-origin"] == "http://ui.example"
    assert paths == ["/predict"]  # with CORS, predictions keep the whole stack
    paths.clear()
    app = make_app()
    app.add_middleware(GZipMiddleware)  # any middleware the path does not stand in for
    async with serving(app) as client:
        assert (await client.post("/predict", content=IMAGE, headers=PNG_HEADERS)).is_success
    assert paths == ["/predict"]


async def test_an_unexpected_failure_in_a_prediction_is_a_logged_500_counted_as_one(
    make_app: Callable[..., FastAPI],
    access_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in the model")

    monkeypatch.setattr(dataplane, "read_headers", broken)
    requests = [("POST", V2, {"content": orjson.dumps(V2_BYTES)})]
    with caplog.at_level(logging.ERROR, logger="app.error"):
        with_path = await exchange(make_app(), access_log, requests)
    assert [record.getMessage() for record in caplog.records] == ["unhandled error"]
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="app.error"):
        stack_only = await exchange(without_path(make_app()), access_log, requests)
    assert [record.getMessage() for record in caplog.records] == ["unhandled error"]
    assert with_path == stack_only
    answer = with_path[0]
    assert answer["status"] == 500
    assert answer["body"]["error"]["code"] == "internal_error"
    assert "bug" not in json.dumps(answer["body"])
    assert answer["access"]["status"] == 500
    assert any('status="500"' in line for line in with_path[-1]["counters"])


async def test_a_prediction_while_draining_closes_the_connection_as_the_stack_does(
    make_app: Callable[..., FastAPI], access_log: io.StringIO
) -> None:
    answers = []
    for app in (make_app(), without_path(make_app())):
        app.state.drain.start()
        answers.append(await exchange(app, access_log, REQUESTS[:1]))
    assert answers[0] == answers[1]
    assert answers[0][0]["headers"]["connection"] == "close"
    assert answers[0][0]["status"] == 200


def test_the_prediction_path_takes_only_routes_that_lead_the_routing_table(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()
    leading = app.router.routes[:2]
    path = PredictionPath(
        app.router,
        service=app,
        routes=[leading[1]],  # not the first route: the router would try another one first
        metrics=app.state.metrics,
        budget=app.state.admission.bodies,
        body_timeout=1.0,
        drain=app.state.drain,
    )
    assert path.routes == []
    path = PredictionPath(
        app.router,
        service=app,
        routes=leading,
        metrics=app.state.metrics,
        budget=app.state.admission.bodies,
        body_timeout=1.0,
        drain=app.state.drain,
    )
    assert path.routes == leading
