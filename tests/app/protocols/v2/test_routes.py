"""The v2 routes in process: the same answers as POST /predict, errors as {"error": message}."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from fastapi import FastAPI

from app.protocols.v2.models import EXTENSIONS
from tests.app.conftest import MLP_NAME, MODEL_NAME, serving
from tests.app.samples import mnist_test_set, png

pytestmark = pytest.mark.anyio


async def native(
    client: httpx.AsyncClient, pixels: np.ndarray[Any, Any], path: str = "/predict"
) -> dict[str, Any]:
    files = [("files", (f"{i}.png", png(p), "image/png")) for i, p in enumerate(pixels)]
    response = await client.post(f"{path}?normalize=never", files=files)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def tensor(pixels: np.ndarray[Any, Any]) -> dict[str, Any]:
    return {"name": "images", "shape": list(pixels.shape), "datatype": "UINT8",
            "data": pixels.reshape(-1).tolist()}  # fmt: skip


async def test_infer_answers_what_predict_answers(client: httpx.AsyncClient) -> None:
    pixels = mnist_test_set(5)[0]
    response = await client.post(
        f"/v2/models/{MODEL_NAME}/infer", json={"id": "q1", "inputs": [tensor(pixels)]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["model_name"], body["model_version"]) == ("q1", MODEL_NAME, "1")
    outputs = {output["name"]: output for output in body["outputs"]}
    expected = await native(client, pixels)
    digits = [p["digit"] for p in expected["predictions"]]
    assert outputs["digit"] == {"name": "digit", "datatype": "INT64", "shape": [5], "data": digits}
    assert outputs["probabilities"]["shape"] == [5, 10]
    np.testing.assert_allclose(
        np.reshape(outputs["probabilities"]["data"], (5, 10)),
        [p["probabilities"] for p in expected["predictions"]],
        rtol=0,
        atol=1e-6,
    )


async def test_encoded_files_go_through_the_same_decoding(client: httpx.AsyncClient) -> None:
    pixels = mnist_test_set(3)[0]
    files = [base64.b64encode(png(p)).decode() for p in pixels]
    request = {"inputs": [{"name": "images", "shape": [3], "datatype": "BYTES", "data": files}],
               "outputs": [{"name": "digit"}]}  # fmt: skip
    response = await client.post(f"/v2/models/{MODEL_NAME}/infer", json=request)
    assert response.status_code == 200, response.text
    expected = [p["digit"] for p in (await native(client, pixels))["predictions"]]
    assert [o["name"] for o in response.json()["outputs"]] == ["digit"]
    assert response.json()["outputs"][0]["data"] == expected


async def test_a_named_version_answers_and_says_so(repo_client: httpx.AsyncClient) -> None:
    pixels = mnist_test_set(2)[0]
    for version in ("1", "2"):
        response = await repo_client.post(
            f"/v2/models/{MODEL_NAME}/versions/{version}/infer", json={"inputs": [tensor(pixels)]}
        )
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == version
        expected = await native(
            repo_client, pixels, f"/models/{MODEL_NAME}/versions/{version}/predict"
        )
        digits = [p["digit"] for p in expected["predictions"]]
        assert response.json()["outputs"][1]["data"] == digits


async def test_metadata_readiness_config_and_index(repo_client: httpx.AsyncClient) -> None:
    assert (await repo_client.get("/v2/health/live")).json() == {"live": True}
    assert (await repo_client.get("/v2/health/ready")).json() == {"ready": True}
    server = (await repo_client.get("/v2")).json()
    assert server["extensions"] == EXTENSIONS
    metadata = (await repo_client.get(f"/v2/models/{MODEL_NAME}")).json()
    assert metadata["versions"] == ["1", "2"]
    assert metadata["inputs"] == [{"name": "images", "datatype": "UINT8", "shape": [-1, 28, 28]}]
    assert (await repo_client.get(f"/v2/models/{MLP_NAME}/versions/1")).json()["versions"] == ["1"]
    assert (await repo_client.get(f"/v2/models/{MODEL_NAME}/ready")).status_code == 200
    assert (await repo_client.get(f"/v2/models/{MODEL_NAME}/versions/2/ready")).status_code == 200
    config = (await repo_client.get(f"/v2/models/{MODEL_NAME}/config")).json()
    assert config["max_batch_size"] == 64
    assert config["input"][0]["dims"] == [28, 28]
    index = (await repo_client.post("/v2/repository/index")).json()
    assert {(e["name"], e["version"], e["state"]) for e in index} == {
        (MODEL_NAME, "1", "READY"),
        (MODEL_NAME, "2", "READY"),
        (MLP_NAME, "1", "READY"),
    }


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/v2/models/nope", 404, "no model named 'nope'"),
        ("GET", f"/v2/models/{MODEL_NAME}/versions/9", 404, "has no version 9"),
        ("GET", f"/v2/models/{MODEL_NAME}/versions/x/ready", 404, "has no version x"),
        ("POST", "/v2/models/nope/infer", 404, "no model named 'nope'"),
        ("POST", f"/v2/models/{MODEL_NAME}/versions/9/infer", 404, "has no version 9"),
    ],
)
async def test_unknown_models_and_versions_are_404s_in_the_protocols_shape(
    client: httpx.AsyncClient, method: str, path: str, status: int, message: str
) -> None:
    response = await client.request(method, path, json={"inputs": []})
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "UINT8",
                      "data": [0] * 784}]}, "takes one input, 'images'"),
        ({"inputs": [{"name": "images", "shape": [1, 28, 28], "datatype": "UINT8",
                      "data": [0] * 784}], "outputs": [{"name": "logits"}]}, "unknown output"),
        ({"inputs": [{"name": "images", "shape": [1, 28, 28], "datatype": "UINT8",
                      "data": [0] * 784}],
          "outputs": [{"name": "digit", "parameters": {"classification": 2}}]}, "applies to"),
        ({"inputs": [{"name": "images", "shape": [1], "datatype": "BYTES",
                      "data": [base64.b64encode(b"not an image").decode()]}]}, "not a PNG"),
        ({"inputs": [{"name": "images", "shape": [1], "datatype": "BYTES", "data": ["AA=="]}],
          "parameters": {"normalize": "sometimes"}}, "must be one of"),
    ],
)  # fmt: skip
async def test_client_mistakes_are_400s_with_a_message(
    client: httpx.AsyncClient, request_body: dict[str, Any], message: str
) -> None:
    response = await client.post(f"/v2/models/{MODEL_NAME}/infer", json=request_body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


async def test_a_body_over_the_limit_is_a_413(make_app: Callable[..., FastAPI]) -> None:
    async with serving(make_app(max_upload_bytes=1000)) as client:
        response = await client.post(
            f"/v2/models/{MODEL_NAME}/infer", content=b"{" + b" " * 2000 + b"}"
        )
    assert response.status_code == 413
    assert "exceeds the limit of 1000 bytes" in response.json()["error"]


async def test_outputs_are_checked_before_the_model_runs(app: FastAPI) -> None:
    request = {"inputs": [tensor(mnist_test_set(1)[0])], "outputs": [{"name": "nope"}]}
    async with serving(app) as client:
        response = await client.post(f"/v2/models/{MODEL_NAME}/infer", json=request)
        assert response.status_code == 400
        assert app.state.metrics.model_requests.counts == {}  # nothing was computed


async def test_a_gzip_body_is_read_and_other_encodings_refused(client: httpx.AsyncClient) -> None:
    pixels = mnist_test_set(1)[0]
    body = orjson.dumps({"inputs": [tensor(pixels)]})
    url = f"/v2/models/{MODEL_NAME}/infer"
    response = await client.post(
        url, content=gzip.compress(body), headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.text
    expected = (await native(client, pixels))["predictions"][0]["digit"]
    assert response.json()["outputs"][1]["data"] == [expected]
    refused = await client.post(url, content=body, headers={"Content-Encoding": "br"})
    assert refused.status_code == 400
    assert "Content-Encoding 'br' is not supported" in refused.json()["error"]


async def test_a_compressed_body_is_held_to_the_limit_once_inflated(
    make_app: Callable[..., FastAPI],
) -> None:
    bomb = gzip.compress(b"{" + b" " * 100_000 + b"}")  # ~100 bytes that inflate to 100 kB
    async with serving(make_app(max_upload_bytes=10_000)) as client:
        response = await client.post(
            f"/v2/models/{MODEL_NAME}/infer", content=bomb, headers={"Content-Encoding": "gzip"}
        )
    assert response.status_code == 413
    assert "decompressed" in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", f"/v2/models/{MODEL_NAME}/versions/%C2%B2/infer", 404),  # "²": no version
        ("GET", f"/v2/models/{MODEL_NAME}/versions/%C2%B2/ready", 404),
        ("GET", f"/v1/models/{MODEL_NAME}/versions/%C2%B2", 404),
        ("GET", f"/v2/models/{MODEL_NAME}/stats", 404),  # no such route: still the plain shape
        ("GET", f"/v2/models/{MODEL_NAME}/infer", 405),
        ("POST", f"/v1/models/{MODEL_NAME}:classify", 405),  # matches the status route
    ],
)
async def test_odd_paths_get_4xx_in_the_protocols_shape(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    assert isinstance(response.json()["error"], str)


async def test_bytes_must_be_one_file_per_element(client: httpx.AsyncClient) -> None:
    files = [base64.b64encode(png(p)).decode() for p in mnist_test_set(3)[0]]
    request = {"inputs": [{"name": "images", "shape": [1, 3], "datatype": "BYTES", "data": files}]}
    response = await client.post(f"/v2/models/{MODEL_NAME}/infer", json=request)
    assert response.status_code == 400
    assert "got shape [1, 3]" in response.json()["error"]


async def test_versioned_config_and_refused_load_parameters(repo_client: httpx.AsyncClient) -> None:
    config = await repo_client.get(f"/v2/models/{MODEL_NAME}/versions/2/config")
    assert config.json()["name"] == MODEL_NAME
    assert (await repo_client.get(f"/v2/models/{MODEL_NAME}/versions/9/config")).status_code == 404
    load = await repo_client.post(
        f"/v2/repository/models/{MODEL_NAME}/load", json={"parameters": {"config": "{}"}}
    )
    assert load.status_code == 400
    assert "not supported" in load.json()["error"]
    assert (
        await repo_client.post(f"/v2/repository/models/{MODEL_NAME}/load", json={})
    ).status_code == 200
