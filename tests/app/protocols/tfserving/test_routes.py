"""TF Serving REST in process: status, metadata, predict in rows and columns, errors."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest

from tests.app.conftest import MODEL_NAME
from tests.app.protocols.v2.test_routes import native
from tests.app.samples import mnist_test_set, png

pytestmark = pytest.mark.anyio


async def test_status_is_tf_servings_and_kserve_v1s(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/v1/models/{MODEL_NAME}")).json()
    assert body == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE",
             "status": {"error_code": "OK", "error_message": ""}}
        ],
        "name": MODEL_NAME,
        "ready": True,
    }  # fmt: skip
    assert (await client.get(f"/v1/models/{MODEL_NAME}/versions/1")).json()["ready"] is True


async def test_metadata_is_the_serving_signature(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/v1/models/{MODEL_NAME}/metadata")).json()
    assert body["model_spec"] == {"name": MODEL_NAME, "signature_name": "", "version": "1"}
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    images = signature["inputs"]["images"]
    assert images["dtype"] == "DT_UINT8"
    assert [d["size"] for d in images["tensor_shape"]["dim"]] == ["-1", "28", "28"]
    assert sorted(signature["outputs"]) == ["digit", "probabilities"]


async def test_predict_in_every_documented_shape_answers_what_predict_answers(
    client: httpx.AsyncClient,
) -> None:
    pixels = mnist_test_set(4)[0]
    expected = (await native(client, pixels))["predictions"]
    floats = (pixels / 255.0).reshape(4, 784).tolist()  # the REST tutorial's float instances
    files = [{"b64": base64.b64encode(png(p)).decode()} for p in pixels]  # the resnet client's
    for request in (
        {"instances": floats},
        {"instances": files},
        {"instances": [{"images": image} for image in pixels.tolist()]},
    ):
        response = await client.post(f"/v1/models/{MODEL_NAME}:predict", json=request)
        assert response.status_code == 200, response.text
        rows = response.json()["predictions"]
        assert [row["digit"] for row in rows] == [p["digit"] for p in expected]
        np.testing.assert_allclose(
            [row["probabilities"] for row in rows],
            [p["probabilities"] for p in expected],
            rtol=0,
            atol=1e-6,
        )
    columns = await client.post(
        f"/v1/models/{MODEL_NAME}/versions/1:predict", json={"inputs": {"images": floats}}
    )
    assert columns.json()["outputs"]["digit"] == [p["digit"] for p in expected]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/v1/models/nope:predict", {"instances": [[0] * 784]}, 404, "no model"),
        ("POST", f"/v1/models/{MODEL_NAME}/versions/3:predict", {"instances": [[0] * 784]},
         404, "has no version 3"),
        ("GET", f"/v1/models/{MODEL_NAME}/versions/3", None, 404, "has no version 3"),
        ("GET", f"/v1/models/{MODEL_NAME}/labels/stable", None, 404, "no version label"),
        ("POST", f"/v1/models/{MODEL_NAME}:predict", {"instances": [[0] * 10]}, 400, "shape"),
        ("POST", f"/v1/models/{MODEL_NAME}:predict", {"instances": [[2.0] * 784]}, 400, "[0, 1]"),
        ("POST", f"/v1/models/{MODEL_NAME}:predict", {"instances": [[0] * 784] * 65}, 400,
         "holds 65 images"),
        ("POST", f"/v1/models/{MODEL_NAME}:predict",
         {"instances": [{"b64": base64.b64encode(b"text").decode()}]}, 400, "not a PNG"),
    ],
)  # fmt: skip
async def test_errors_are_tf_servings_shape_and_never_5xx(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: object,
    status: int,
    message: str,
) -> None:
    response = await client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    assert message in response.json()["error"]
