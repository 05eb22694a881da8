"""The real service over a real socket: start-up, a prediction, streaming limits, failures."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.app.conftest import MODEL_NAME
from tests.app.samples import mnist_test_set, png
from tests.app.server_process import REPO, Server, read_response, run_to_exit, running_server

pytestmark = pytest.mark.slow

UPLOAD_LIMIT = 256 * 1024


COMMITTED_MODEL = REPO / "model" / MODEL_NAME / "1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``uvicorn app.main:app`` with default settings: it serves the committed model."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running_server({"MNIST_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}, log) as running:
        yield running


def savedmodel_predictions(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Digits straight from the committed SavedModel, and its logits calibrated as recorded."""
    import tensorflow as tf

    from training.calibrate import softmax

    serve = tf.saved_model.load(str(COMMITTED_MODEL)).signatures["serving_default"]
    outputs = serve(images=tf.constant(images))
    metadata = json.loads((COMMITTED_MODEL / "metadata.json").read_text())
    temperature = metadata["calibration"]["temperature"]
    assert temperature != 1.0  # so that serving the uncalibrated probabilities would fail
    return np.asarray(outputs["digit"]), softmax(np.asarray(outputs["logits"]), temperature)


def test_serves_the_committed_model_exactly(server: Server) -> None:
    """MNIST test images sent as PNGs get the SavedModel's own predictions for those arrays.

    Its own digits, and its own logits over the temperature training fitted (metadata.json).
    """
    images, labels = mnist_test_set(count=128)
    digits, probabilities = savedmodel_predictions(images)
    received = []
    for start in (0, 64):
        batch = images[start : start + 64]
        files = [("files", (f"{start + i}.png", png(image))) for i, image in enumerate(batch)]
        response = httpx.post(f"{server.url}/predict", files=files, timeout=60)
        assert response.status_code == 200, response.text
        assert response.json()["model"] == {"name": MODEL_NAME, "version": 1}
        received += response.json()["predictions"]

    assert [p["digit"] for p in received] == digits.tolist()
    # The service runs the model compiled to TFLite: within 1e-5 of TensorFlow, as promised.
    np.testing.assert_allclose(
        [p["probabilities"] for p in received], probabilities, rtol=1e-4, atol=1e-6
    )
    # The committed model is a trained one, not a placeholder: it recognises these digits.
    assert (digits == labels).mean() > 0.8


def test_request_ids_and_access_log(server: Server) -> None:
    images, _ = mnist_test_set()
    response = httpx.post(
        f"{server.url}/predict",
        content=png(images[0]),
        headers={"Content-Type": "image/png", "X-Request-ID": "socket-test-1"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "socket-test-1"
    # The access log line of that request, as JSON; lines are buffered for up to a second.
    entries: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while not entries and time.monotonic() < deadline:
        time.sleep(0.1)
        lines = [json.loads(line) for line in server.output().splitlines() if line[:1] == "{"]
        entries = [line for line in lines if line.get("request_id") == "socket-test-1"]
    [entry] = entries
    assert (entry["path"], entry["status"]) == ("/predict", 200)


def test_model_endpoint_reports_the_training_record(server: Server) -> None:
    body = httpx.get(f"{server.url}/model", timeout=10).json()
    assert body["metadata"] == json.loads((COMMITTED_MODEL / "metadata.json").read_text())
    assert 0.0 < body["metadata"]["test_accuracy"] <= 1.0


def test_oversized_upload_is_refused_before_it_is_sent(server: Server) -> None:
    """413 arrives while the client is still sending: the server did not wait for the body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as conn:
        conn.sendall(
            b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: image/png\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"\x00" * 16384
        for _ in range(UPLOAD_LIMIT // len(chunk) + 2):
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        # The body is never finished (no terminating chunk), yet the answer comes.
        head, body = read_response(conn)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert body["error"]["code"] == "body_too_large"
    assert httpx.get(f"{server.url}/health/live", timeout=10).status_code == 200


def test_docs_work_over_http(server: Server) -> None:
    assert httpx.get(f"{server.url}/docs", timeout=10).status_code == 200
    weights = httpx.get(f"{server.url}/weights.png", timeout=30)
    assert weights.content.startswith(b"\x89PNG")


def one_clear_line(output: str) -> str:
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if "cannot start:" in line]
    assert len(lines) == 1, output
    return lines[0]


def test_missing_model_exits_with_one_line(tmp_path: Path) -> None:
    result = run_to_exit({"MNIST_MODEL_DIR": str(tmp_path)})
    assert result.returncode != 0
    line = one_clear_line(result.stdout)
    assert f"the default model {MODEL_NAME!r} is not in the repository {tmp_path}" in line


def test_corrupt_model_exits_with_one_line(model_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(model_dir / MODEL_NAME / "1", tmp_path / MODEL_NAME / "1")
    (tmp_path / MODEL_NAME / "1" / "saved_model.pb").write_bytes(b"\x08\x01 not a SavedModel")
    result = run_to_exit({"MNIST_MODEL_DIR": str(tmp_path)})
    assert result.returncode != 0
    line = one_clear_line(result.stdout)
    assert f"model {MODEL_NAME!r} has no servable version (version 1: could not load" in line


def test_invalid_settings_exit_with_one_line() -> None:
    result = run_to_exit({"MNIST_MAX_FILES": "0"})
    assert result.returncode != 0
    assert "Traceback" not in result.stdout
    [line] = [line for line in result.stdout.splitlines() if "invalid settings" in line]
    assert "MNIST_MAX_FILES" in line


def test_access_lines_still_buffered_are_written_when_the_server_stops(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with running_server({}, log) as running:
        response = httpx.get(
            f"{running.url}/health/live", headers={"X-Request-ID": "last-before-stop"}, timeout=10
        )
        assert response.status_code == 200
        # Stopped at once by SIGTERM, well within the handler's one-second flush interval.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line[:1] == "{"]
    assert [line["path"] for line in lines if line.get("request_id") == "last-before-stop"] == [
        "/health/live"
    ]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MNIST_VERSION_POLICY": "newest"}, "MNIST_VERSION_POLICY: Value error, unknown version"),
        ({"MNIST_MODELS": "mnist,../x"}, "MNIST_MODELS: Value error, '../x' is not a model"),
        ({"MNIST_MODEL_VERSION": "2"}, "MNIST_MODEL_VERSION is replaced by MNIST_VERSION_POLICY"),
    ],
)
def test_invalid_repository_settings_exit_with_one_line(env: dict[str, str], named: str) -> None:
    result = run_to_exit(env)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout
    [line] = [line for line in result.stdout.splitlines() if "invalid settings" in line]
    assert named in line


def test_a_warm_cache_restart_needs_no_compiler(tmp_path: Path) -> None:
    """The second start finds every version in the cache: no TensorFlow child is started."""
    cache = tmp_path / "cache"
    env = {"MNIST_CACHE_DIR": str(cache)}
    with running_server(env, tmp_path / "cold.log") as cold:
        versions = httpx.get(f"{cold.url}/models", timeout=10).json()["models"][0]["versions"]
        assert versions[0]["cache"] == "miss"
    # Per committed model: the entry, its manifest, and the lock file of the claim taken to
    # compile it.
    models = len([folder for folder in (REPO / "model").iterdir() if folder.is_dir()])
    assert models == 3
    assert sorted(p.suffix for p in cache.iterdir()) == sorted([".json", ".lock", ".npz"] * models)
    # A compiler child now would time out and fail the start: the server must not need one.
    broken = {**env, "MNIST_COMPILE_TIMEOUT_S": "0.001"}
    with running_server(broken, tmp_path / "warm.log") as warm:
        versions = httpx.get(f"{warm.url}/models", timeout=10).json()["models"][0]["versions"]
        assert versions[0]["cache"] == "hit"
