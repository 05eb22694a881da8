"""Running the real service as a child process: ``python -m app``, the README's run command."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
# Importing TensorFlow takes 5-40 s on a busy 2-core machine; this only guards against a hang.
STARTUP_GUARD_SECONDS = 240
# One compile cache for the servers of a test session, never the user's own (~/.cache).
SESSION_CACHE = Path(tempfile.mkdtemp(prefix="mnist-test-cache-"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def service_command(port: int) -> list[str]:
    """The README's run command, ``python -m app`` (it reads MNIST_WORKERS), on a local port."""
    return [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port)]


def service_env(env: Mapping[str, str]) -> dict[str, str]:
    """The test process's environment without MNIST_* settings, plus ``env``.

    The servers share the session's compile cache unless ``env`` names another one, and stop
    at once on SIGTERM (no drain period) unless ``env`` sets ``MNIST_DRAIN_SECONDS``.
    """
    clean = {key: value for key, value in os.environ.items() if not key.startswith("MNIST_")}
    defaults = {
        "PYTHONUNBUFFERED": "1",
        "MNIST_CACHE_DIR": str(SESSION_CACHE),
        "MNIST_DRAIN_SECONDS": "0",
    }
    return {**clean, **defaults, **env}


@dataclass
class Server:
    """A running service: its base URL and the file its output goes to."""

    url: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_server(
    env: Mapping[str, str], log: Path, command: Callable[[int], list[str]] = service_command
) -> Iterator[Server]:
    """Start the service, wait until it is ready, stop it afterwards."""
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command(port), cwd=REPO, env=service_env(env), stdout=sink, stderr=sink
        )
    server = Server(url=f"http://127.0.0.1:{port}", port=port, log=log, process=process)
    try:
        wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_GUARD_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited early:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server was not ready in time:\n{server.output()}")


def run_to_exit(
    env: Mapping[str, str], command: Callable[[int], list[str]] = service_command
) -> subprocess.CompletedProcess[str]:
    """Start the service expecting it to give up; its combined output and exit code."""
    return subprocess.run(
        command(free_port()),
        cwd=REPO,
        env=service_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=STARTUP_GUARD_SECONDS,
        check=False,
    )


def read_response(conn: socket.socket) -> tuple[bytes, dict[str, Any]]:
    """Status line and headers, and the JSON body, of one HTTP/1.1 response."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    [length] = [
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    ]
    while len(body) < length:
        body += conn.recv(65536)
    return head, json.loads(body)


def start_upload(server: Server, body: bytes, sent: int) -> socket.socket:
    """A connection that has sent a raw-body /predict's headers and ``sent`` bytes of its body."""
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    conn.sendall(
        b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: image/png\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body[:sent])
    )
    return conn
