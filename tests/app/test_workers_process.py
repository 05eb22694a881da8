"""``python -m app`` with two workers: one port, one compile, merged metrics, replacements."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.app.samples import mnist_test_set, png
from tests.app.server_process import (
    Server,
    read_response,
    run_to_exit,
    running_server,
    start_upload,
)

pytestmark = pytest.mark.slow

WAIT_SECONDS = 120  # a replacement worker starts in ~1 s; this only guards against a hang


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two workers starting on an empty compile cache."""
    root = tmp_path_factory.mktemp("workers")
    # The default model alone: one compile to share, one load per worker to count.
    env = {"MNIST_WORKERS": "2", "MNIST_CACHE_DIR": str(root / "cache"), "MNIST_MODELS": "mnist"}
    with running_server(env, root / "server.log") as server:
        yield server


def log_lines(server: Server) -> list[dict[str, Any]]:
    lines = []
    for line in server.output().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def predict(server: Server, image: bytes, request_id: str) -> httpx.Response:
    """One prediction on a new connection (the kernel picks the worker that accepts it)."""
    return httpx.post(
        f"{server.url}/predict",
        content=image,
        headers={"Content-Type": "image/png", "X-Request-ID": request_id},
        timeout=60,
    )


def workers_by_request(server: Server, ids: set[str]) -> dict[str, int]:
    """Which worker served each request, from the access log (lines leave within ~1 s)."""

    def served() -> dict[str, int]:
        return {
            line["request_id"]: line["worker"]
            for line in log_lines(server)
            if line.get("logger") == "app.access" and line.get("request_id") in ids
        }

    wait_for(lambda: served().keys() == ids, "the access log lines")
    return served()


def worker_pids(server: Server) -> dict[int, int]:
    """Worker number -> pid of the newest process that took that number."""
    started = [line for line in log_lines(server) if line.get("message") == "worker started"]
    return {line["worker"]: line["pid"] for line in started}


def predictions_total(server: Server) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_requests_total" and sample.labels == {
                "method": "POST",
                "route": "/predict",
                "status": "200",
            }:
                return sample.value
    return 0.0


def test_two_workers_compile_once_and_both_answer_right(workers: Server) -> None:
    def loads() -> list[dict[str, Any]]:
        lines = log_lines(workers)
        return [line for line in lines if line.get("message") == "model version available"]

    # Ready means one worker is; a worker accepts connections only once it has its models.
    wait_for(lambda: len(loads()) == 2, "both workers' models")
    # Both workers loaded the version; TensorFlow ran once, the other worker read its result.
    assert sorted(line["cache"] for line in loads()) == ["hit", "miss"]
    assert {line["worker"] for line in loads()} == {0, 1}

    images, labels = mnist_test_set(count=32)
    jobs = [(f"w2-{round_}-{index}", index) for round_ in range(4) for index in range(32)]
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda job: predict(workers, png(images[job[1]]), job[0]), jobs))
    assert all(response.status_code == 200 for response in responses)
    served = workers_by_request(workers, {request_id for request_id, _ in jobs})
    assert set(served.values()) == {0, 1}

    answers: dict[int, set[tuple[int, int]]] = {}
    for (request_id, index), response in zip(jobs, responses, strict=True):
        digit = response.json()["predictions"][0]["digit"]
        answers.setdefault(index, set()).add((digit, served[request_id]))
    # Every image gets one digit, whichever worker answers; the model's ~92 % accuracy holds.
    digits = {index: {digit for digit, _ in found} for index, found in answers.items()}
    assert all(len(found) == 1 for found in digits.values())
    correct = sum(digits[index] == {int(labels[index])} for index in range(32))
    assert correct >= 28


def test_metrics_count_every_workers_requests(workers: Server) -> None:
    before = predictions_total(workers)
    image = png(mnist_test_set(count=1)[0][0])
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda n: predict(workers, image, f"m-{n}").status_code, range(60))
        )
    assert statuses == [200] * 60
    # Another worker's counts reach the shared files within its flush interval (0.25 s).
    wait_for(lambda: predictions_total(workers) == before + 60, "the merged count")
    # Whichever worker answers the scrape (each call is a new connection), the sum is the same.
    assert [predictions_total(workers) for _ in range(8)] == [before + 60] * 8
    text = httpx.get(f"{workers.url}/metrics", timeout=30).text
    memory = [line for line in text.splitlines() if line.startswith("mnist_worker_resident")]
    assert len(memory) == 2


def test_a_killed_worker_is_replaced_while_the_other_serves(workers: Server) -> None:
    pids = worker_pids(workers)
    assert sorted(pids) == [0, 1]
    os.kill(pids[1], signal.SIGKILL)
    image = png(mnist_test_set(count=1)[0][0])
    # The survivor takes every new connection at once.
    statuses = [predict(workers, image, f"k-{n}").status_code for n in range(20)]
    assert statuses == [200] * 20

    # The supervisor starts a replacement, which takes number 1 again and loads from the cache.
    wait_for(lambda: worker_pids(workers).get(1) not in (None, pids[1]), "a replacement worker")
    replacement = worker_pids(workers)[1]
    assert replacement != pids[1]
    deadline = time.monotonic() + WAIT_SECONDS
    answered_by: set[int] = set()
    batch = 0
    while 1 not in answered_by:
        assert time.monotonic() < deadline, "the replacement never answered"
        ids = {f"r-{batch}-{n}" for n in range(16)}
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda rid: predict(workers, image, rid).status_code, ids))
        assert statuses == [200] * 16
        answered_by |= set(workers_by_request(workers, ids).values())
        batch += 1
    assert httpx.get(f"{workers.url}/health/ready", timeout=30).status_code == 200


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_bad_worker_counts_stop_start_up_with_one_line(value: str) -> None:
    result = run_to_exit({"MNIST_WORKERS": value})
    assert result.returncode != 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith("invalid settings: MNIST_WORKERS:")


def test_workers_that_cannot_start_stop_the_launcher(tmp_path: Path) -> None:
    """No model: every worker fails its start-up, and the supervisor gives up with an error."""
    result = run_to_exit(
        {"MNIST_WORKERS": "2", "MNIST_MODEL_DIR": str(tmp_path)},
    )
    assert result.returncode == 3, result.stdout
    assert "cannot start" in result.stdout


def test_sigterm_drains_every_worker_and_the_supervisor_exits_0(tmp_path: Path) -> None:
    """gunicorn passes SIGTERM on to its workers; each drains as a single process does."""
    image = png(mnist_test_set(count=1)[0][0])
    env = {"MNIST_WORKERS": "2", "MNIST_MODELS": "mnist", "MNIST_DRAIN_SECONDS": "3"}
    with running_server(env, tmp_path / "server.log") as server:
        in_flight = [start_upload(server, image, sent=20) for _ in range(6)]
        time.sleep(0.5)
        sigterm_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # During the drain: not ready, still serving new connections, whichever worker answers.
        readiness = [httpx.get(f"{server.url}/health/ready", timeout=10) for _ in range(4)]
        during = httpx.post(
            f"{server.url}/predict", content=image, headers={"Content-Type": "image/png"}
        )
        assert time.monotonic() - sigterm_at < 3, "too slow to check the drain"
        assert {response.status_code for response in readiness} == {503}
        assert during.status_code == 200, during.text
        # The uploads received before SIGTERM are finished after the drain.
        answers = []
        for conn in in_flight:
            conn.sendall(image[20:])
            answers.append(read_response(conn))
            conn.close()
        assert server.process.wait(timeout=60) == 0
    assert [head.split(b"\r\n")[0] for head, _ in answers] == [b"HTTP/1.1 200 OK"] * 6
