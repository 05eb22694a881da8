"""/docs, /redoc and /openapi.json: complete, and usable without internet access."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

pytestmark = pytest.mark.anyio

ENDPOINTS = {
    ("post", "/predict"),
    ("get", "/metrics"),
    ("get", "/weights"),
    ("get", "/weights.png"),
    ("get", "/weights/{digit}.png"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/model"),
    ("get", "/models"),
    ("get", "/models/{name}"),
    ("get", "/models/{name}/versions/{version}"),
    ("post", "/models/{name}/predict"),
    ("post", "/models/{name}/versions/{version}/predict"),
    ("get", "/models/{name}/weights"),
    ("get", "/models/{name}/weights.png"),
    ("get", "/models/{name}/weights/{digit}.png"),
}
# The standard protocols' routes (Open Inference Protocol v2, TF Serving REST), in their own
# error shape.
STANDARD_ENDPOINTS = {
    ("get", "/v2"),
    ("get", "/v2/health/live"),
    ("get", "/v2/health/ready"),
    ("get", "/v2/models/{name}"),
    ("get", "/v2/models/{name}/versions/{version}"),
    ("get", "/v2/models/{name}/ready"),
    ("get", "/v2/models/{name}/versions/{version}/ready"),
    ("get", "/v2/models/{name}/config"),
    ("get", "/v2/models/{name}/versions/{version}/config"),
    ("post", "/v2/models/{name}/infer"),
    ("post", "/v2/models/{name}/versions/{version}/infer"),
    ("post", "/v2/repository/index"),
    ("post", "/v2/repository/models/{name}/load"),
    ("post", "/v2/repository/models/{name}/unload"),
    ("get", "/v1/models/{name}"),
    ("get", "/v1/models/{name}/versions/{version}"),
    ("get", "/v1/models/{name}/labels/{label}"),
    ("get", "/v1/models/{name}/metadata"),
    ("get", "/v1/models/{name}/versions/{version}/metadata"),
    ("post", "/v1/models/{name}:predict"),
    ("post", "/v1/models/{name}/versions/{version}:predict"),
}
# Status resources answer from the registry itself: they never wait for a model.
NO_MODEL_NEEDED = {
    "/health/live",
    "/metrics",
    "/models",
    "/models/{name}",
    "/models/{name}/versions/{version}",
}


@pytest.fixture(scope="module")
def openapi(make_app: Callable[..., FastAPI]) -> dict[str, Any]:
    return make_app().openapi()


async def test_openapi_json_is_served(client: httpx.AsyncClient, openapi: dict[str, Any]) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == openapi


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_local_assets(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", response.text)
    assets += re.findall(r"""url:\s*["']([^"']+)["']""", response.text)
    assert assets
    assert not re.search(r"https?://", response.text.replace("http://www.w3.org", ""))
    for asset in assets:
        fetched = await client.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 1000, asset


def test_every_endpoint_is_documented(openapi: dict[str, Any]) -> None:
    documented = {
        (method, path) for path, operations in openapi["paths"].items() for method in operations
    }
    assert documented == ENDPOINTS | STANDARD_ENDPOINTS
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            if (method, path) in STANDARD_ENDPOINTS:
                continue
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            assert operation.get("description"), where
            assert operation["responses"]["200"]["content"], where
            errors = {code for code in operation["responses"] if code.startswith(("4", "5"))}
            # Everything that needs a loaded model may answer 503.
            assert ("503" in errors) == (path not in NO_MODEL_NEEDED), where
            if "{name}" in path:
                assert "404" in errors, where
            for code in errors:
                body = operation["responses"][code]["content"]["application/json"]
                assert body["schema"]["$ref"].endswith("/ErrorResponse"), where
                assert body["examples"], where


def test_the_standard_protocols_are_documented_with_their_error_shape(
    openapi: dict[str, Any],
) -> None:
    for method, path in STANDARD_ENDPOINTS:
        operation = openapi["paths"][path][method]
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert operation.get("description"), where
        assert operation["responses"]["200"]["content"], where
        errors = {code for code in operation["responses"] if code.startswith(("4", "5"))}
        if "{name}" in path:
            assert "404" in errors, where
        for code in errors:
            schema = operation["responses"][code]["content"]["application/json"]["schema"]
            if path.endswith("/ready") and code == "503":
                # Readiness answers the same {"ready": false} object as its 200, as v2 says.
                assert (
                    schema == operation["responses"]["200"]["content"]["application/json"]["schema"]
                ), where
                assert schema["properties"]["ready"] == {"type": "boolean"}, where
            else:
                assert schema["$ref"].endswith("/StandardErrorBody"), where
    infer = openapi["paths"]["/v2/models/{name}/infer"]["post"]
    assert "Inference-Header-Content-Length" in infer["requestBody"]["description"]


def test_predict_documents_its_body_and_errors(openapi: dict[str, Any]) -> None:
    operation = openapi["paths"]["/predict"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"multipart/form-data", "image/*"}
    assert content["multipart/form-data"]["schema"]["properties"]["files"]["type"] == "array"
    codes = {
        name
        for response in operation["responses"].values()
        for name in response.get("content", {}).get("application/json", {}).get("examples", {})
    }
    assert {
        "not_an_image",
        "empty_body",
        "empty_file",
        "truncated_image",
        "wrong_image_size",
        "image_too_large",
        "missing_content_type",
        "unsupported_content_type",
        "missing_files",
        "too_many_files",
        "body_too_large",
    } <= codes


def test_response_models_carry_examples(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for name in ("PredictResponse", "ModelInfo", "WeightsInfo"):
        assert schemas[name].get("examples"), name


def test_the_per_model_routes_document_their_path(openapi: dict[str, Any]) -> None:
    path = "/models/{name}/versions/{version}/predict"
    parameters = {p["name"]: p for p in openapi["paths"][path]["post"]["parameters"]}
    assert set(parameters) == {
        "name",
        "version",
        "normalize",
        "return_input",
        "min_confidence",
        "explain",
    }
    assert parameters["version"]["in"] == "path"
    assert parameters["version"]["schema"] == {"type": "integer", "minimum": 1}


def test_predict_documents_its_query_options(openapi: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in openapi["paths"]["/predict"]["post"]["parameters"]}
    assert set(parameters) == {"normalize", "return_input", "min_confidence", "explain"}
    assert all(p["in"] == "query" and not p["required"] for p in parameters.values())
    bounds = parameters["min_confidence"]["schema"]["anyOf"][0]
    assert (bounds["minimum"], bounds["maximum"]) == (0.0, 1.0)
    assert parameters["normalize"]["schema"]["enum"] == ["auto", "always", "never"]
    assert parameters["normalize"]["schema"]["default"] == "auto"
    assert parameters["return_input"]["schema"] == {"type": "boolean", "default": False}
    assert all(p["description"] for p in parameters.values())
