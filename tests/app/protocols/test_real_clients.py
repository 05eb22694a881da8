"""The standard protocols proven with their real clients against a real server process.

tritonclient (Open Inference Protocol v2, JSON and binary tensors, classification, model
configuration, the repository extension) and the request shapes TensorFlow Serving documents
must give the digits and probabilities (1e-6) that ``POST /predict`` gives for the same images.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.app.protocols.conftest import ATOL
from tests.app.samples import png
from tests.app.server_process import Server


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(f"127.0.0.1:{server.port}") as connection:
        yield connection


def test_tritonclient_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("mnist")
    assert client.is_model_ready("mnist", "1")
    assert not client.is_model_ready("mnist", "7")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    metadata = client.get_model_metadata("mnist")
    assert metadata["versions"] == ["1"]
    assert [tensor["name"] for tensor in metadata["outputs"]] == ["probabilities", "digit"]
    assert client.get_model_metadata("mnist", "1")["name"] == "mnist"
    config = client.get_model_config("mnist")
    assert config["input"][0]["data_type"] == "TYPE_UINT8"


@pytest.mark.parametrize("binary_in", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["binary-out", "json-out"])
def test_tritonclient_infer(
    client: triton.InferenceServerClient,
    images: np.ndarray[Any, Any],
    expected: tuple[Any, Any],
    binary_in: bool,
    binary_out: bool,
) -> None:
    tensor = triton.InferInput("images", list(images.shape), "UINT8")
    tensor.set_data_from_numpy(images, binary_data=binary_in)
    outputs = [
        triton.InferRequestedOutput("probabilities", binary_data=binary_out),
        triton.InferRequestedOutput("digit", binary_data=binary_out),
    ]
    result = client.infer("mnist", [tensor], outputs=outputs, request_id="req-7")
    assert result.get_response()["id"] == "req-7"
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected[0], rtol=0, atol=ATOL)
    np.testing.assert_array_equal(result.as_numpy("digit"), expected[1])


def test_tritonclient_with_files_and_classification(
    client: triton.InferenceServerClient, images: np.ndarray[Any, Any], expected: tuple[Any, Any]
) -> None:
    files = triton.InferInput("images", [len(images)], "BYTES")
    files.set_data_from_numpy(np.array([png(p) for p in images], dtype=object))
    top = triton.InferRequestedOutput("probabilities", class_count=3)
    result = client.infer("mnist", [files], outputs=[top], model_version="1")
    classes = result.as_numpy("probabilities")
    assert classes.shape == (len(images), 3)
    best = [element.decode().split(":") for element in classes[:, 0]]
    assert [int(index) for _, index, _ in best] == expected[1].tolist()
    scores = [float(score) for score, _, _ in best]
    np.testing.assert_allclose(scores, expected[0].max(axis=1), rtol=0, atol=1e-6)


def test_tritonclient_errors_carry_the_servers_message(
    client: triton.InferenceServerClient, images: np.ndarray[Any, Any]
) -> None:
    tensor = triton.InferInput("images", [1, 27, 28], "UINT8")
    tensor.set_data_from_numpy(images[:1, :27])
    with pytest.raises(InferenceServerException, match="expected one of"):
        client.infer("mnist", [tensor])
    with pytest.raises(InferenceServerException, match="no model named 'nope'"):
        client.get_model_metadata("nope")


def test_tritonclient_repository_index_load_and_unload(
    client: triton.InferenceServerClient,
) -> None:
    index = {(entry["name"], entry["state"]) for entry in client.get_model_repository_index()}
    assert index == {("mnist", "READY"), ("spare", "READY")}
    client.unload_model("spare")
    assert not client.is_model_ready("spare")
    assert client.is_server_ready()  # an unloaded model is not waited for
    client.load_model("spare")
    assert client.is_model_ready("spare")


def test_tf_servings_documented_request_shapes(
    server: Server, images: np.ndarray[Any, Any], expected: tuple[Any, Any]
) -> None:
    url = f"{server.url}/v1/models/mnist:predict"
    floats = (images / 255.0).reshape(len(images), 784).tolist()  # its REST tutorial's instances
    files = [{"b64": base64.b64encode(png(p)).decode()} for p in images]  # its image clients'
    for request in ({"instances": floats}, {"instances": files}, {"inputs": floats}):
        response = httpx.post(url, json=request, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        rows = body.get("predictions") or [
            {"probabilities": p, "digit": d}
            for p, d in zip(body["outputs"]["probabilities"], body["outputs"]["digit"], strict=True)
        ]
        np.testing.assert_allclose(
            [row["probabilities"] for row in rows], expected[0], rtol=0, atol=ATOL
        )
        assert [row["digit"] for row in rows] == expected[1].tolist()
    status = httpx.get(f"{server.url}/v1/models/mnist", timeout=10).json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    assert status["ready"] is True  # what KServe's v1 client reads


def test_a_missing_path_is_not_a_server_error(server: Server) -> None:
    for path in ("/v2/models/mnist/nothing", "/v1/models/mnist/versions/1/nothing"):
        assert httpx.get(f"{server.url}{path}", timeout=10).status_code == 404
