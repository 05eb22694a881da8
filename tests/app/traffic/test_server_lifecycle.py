"""The real server (``python -m app``) over real sockets: drain on SIGTERM, body deadline, idle
keep-alive connections closed, a log destination that blocks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.app.samples import digit_pixels, png
from tests.app.server_process import (
    REPO,
    Server,
    free_port,
    read_response,
    running_server,
    service_command,
    service_env,
    start_upload,
    wait_ready,
)

pytestmark = pytest.mark.slow

IN_FLIGHT = 12
DRAIN_SECONDS = 3


def closed_by_server(conn: socket.socket, within: float) -> bool:
    conn.settimeout(within)
    try:
        return conn.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_sigterm_drains_finishes_every_request_in_flight_and_exits_0(tmp_path: Path) -> None:
    image = png(digit_pixels())
    env = {"MNIST_DRAIN_SECONDS": str(DRAIN_SECONDS)}
    with running_server(env, tmp_path / "server.log") as server:
        in_flight = [start_upload(server, image, sent=20) for _ in range(IN_FLIGHT)]
        time.sleep(0.5)  # every request received (headers read, body being read)
        sigterm_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)

        # Readiness turns at once; the server still takes new connections and answers them.
        ready = httpx.get(f"{server.url}/health/ready", timeout=10)
        v2_ready = httpx.get(f"{server.url}/v2/health/ready", timeout=10)
        during = httpx.post(
            f"{server.url}/predict", content=image, headers={"Content-Type": "image/png"}
        )
        assert time.monotonic() - sigterm_at < DRAIN_SECONDS, "too slow to check the drain"
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "draining"
        assert v2_ready.status_code == 503
        assert during.status_code == 200, during.text
        assert during.headers["connection"] == "close"

        # The uploads finish after the drain period, when no new connection is accepted.
        time.sleep(DRAIN_SECONDS + 0.5 - (time.monotonic() - sigterm_at))
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/health/live", timeout=5)
        assert server.process.poll() is None
        answers = []
        for conn in in_flight:
            conn.sendall(image[20:])
            answers.append(read_response(conn))
            conn.close()
        assert server.process.wait(timeout=30) == 0
    assert [head.split(b"\r\n")[0] for head, _ in answers] == [b"HTTP/1.1 200 OK"] * IN_FLIGHT
    assert all(body["predictions"][0]["digit"] in range(10) for _, body in answers)


def test_a_body_that_never_arrives_is_a_408_and_its_connection_closed(tmp_path: Path) -> None:
    env = {"MNIST_BODY_TIMEOUT_S": "1", "MNIST_KEEP_ALIVE_S": "1"}
    with running_server(env, tmp_path / "server.log") as server:
        # Headers and 4 bytes of a 1 MB body, then nothing.
        stalled = start_upload(server, b"\x89PNG" + b"\0" * (1024 * 1024 - 4), sent=4)
        started = time.monotonic()
        head, body = read_response(stalled)
        waited = time.monotonic() - started
        assert head.startswith(b"HTTP/1.1 408 ")
        assert b"connection: close" in head.lower()
        assert body["error"]["code"] == "body_timeout"
        assert waited < 10
        assert closed_by_server(stalled, within=5)
        stalled.close()

        # An idle keep-alive connection is closed after MNIST_KEEP_ALIVE_S.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle:
            idle.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
            head, _ = read_response(idle)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert closed_by_server(idle, within=4)
        # The server still answers.
        assert httpx.get(f"{server.url}/health/live", timeout=10).status_code == 200


def test_a_log_pipe_nobody_reads_does_not_stall_requests() -> None:
    """~600 KB of access lines into a 64 KiB pipe that is never read: every request answered."""
    port = free_port()
    process = subprocess.Popen(
        service_command(port),
        cwd=REPO,
        env=service_env({"MNIST_LOG_LEVEL": "info"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", port, Path(os.devnull), process)
    try:
        wait_ready(server)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            statuses = [client.get("/health/live").status_code for _ in range(2_500)]
        assert statuses == [200] * 2_500
    finally:
        process.terminate()
        assert process.stdout is not None
        with process.stdout:
            output = process.stdout.read()  # drains the pipe, so the server can stop
        process.wait(timeout=60)
    # Nothing was lost either: the lines waited in memory and were written once read.
    assert output.count(b'"path":"/health/live"') == 2_500
