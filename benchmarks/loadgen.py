"""A small HTTP/1.1 keep-alive load generator on raw asyncio streams, and server launching.

Requests are pre-built byte strings and responses are parsed just enough to know their status and
length, so the client costs little next to the server it measures. Every run is bounded both in
requests and in seconds.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = Path(os.environ.get("MNIST_DATA_DIR", REPO.parent / "shared" / "mnist"))


def digit_png(index: int = 0) -> bytes:
    """One MNIST test image as a PNG, as a client would upload it."""
    with gzip.open(MNIST_DIR / "t10k-images-idx3-ubyte.gz") as f:
        f.seek(16 + 784 * index)
        pixels = np.frombuffer(f.read(784), dtype=np.uint8).reshape(28, 28)
    out = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(out, format="PNG")
    return out.getvalue()


def get_request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()


def raw_image_request(path: str, png: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: image/png\r\n"
        f"Content-Length: {len(png)}\r\n\r\n"
    )
    return head.encode() + png


def json_request(path: str, body: object) -> bytes:
    content = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(content)}\r\n\r\n"
    )
    return head.encode() + content


def v2_binary_request(path: str, pixels: np.ndarray[Any, Any]) -> bytes:
    """An Open Inference Protocol v2 request as tritonclient sends it: binary in and out."""
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "images",
                    "shape": list(pixels.shape),
                    "datatype": "UINT8",
                    "parameters": {"binary_data_size": pixels.nbytes},
                }
            ],
            "outputs": [
                {"name": "probabilities", "parameters": {"binary_data": True}},
                {"name": "digit", "parameters": {"binary_data": True}},
            ],
        }
    ).encode()
    body = header + pixels.tobytes()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nInference-Header-Content-Length: {len(header)}"
        f"\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def mnist_pixels(index: int = 0) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """One MNIST test image as uint8 [1, 28, 28]."""
    with gzip.open(MNIST_DIR / "t10k-images-idx3-ubyte.gz") as f:
        f.seek(16 + 784 * index)
        return np.frombuffer(f.read(784), dtype=np.uint8).reshape(1, 28, 28)


def multipart_request(
    path: str, png: bytes, filename: str = "digit.png", field: str = "files"
) -> bytes:
    boundary = "mnistbenchmarkboundary7f3a"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: image/png\r\n\r\n"
    ).encode()
    body += png + f"\r\n--{boundary}--\r\n".encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class LoadResult:
    """What one load run measured."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies:
            return float("nan")
        return float(np.quantile(self.latencies, quantile)) * 1000


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one response off ``reader``; its status."""
    return await _read_response(reader)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    # At a line start: "inference-header-content-length:" (v2's binary responses) is another header.
    marker = lowered.find(b"\r\ncontent-length:")
    if marker >= 0:
        end = lowered.index(b"\r\n", marker + 2)
        await reader.readexactly(int(lowered[marker + 17 : end]))
    elif b"transfer-encoding: chunked" in lowered:
        while (size := int((await reader.readuntil(b"\r\n")).strip(), 16)) > 0:
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    return status


async def _connection(
    port: int, request: bytes, result: LoadResult, deadline: float, budget: list[int]
) -> None:
    loop = asyncio.get_running_loop()
    writer: asyncio.StreamWriter | None = None
    while loop.time() < deadline and budget[0] > 0:
        budget[0] -= 1
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            start = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            elapsed = time.perf_counter() - start
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            if writer is not None:
                writer.close()
            writer = None
            continue
        if status == 200:
            result.latencies.append(elapsed)
        else:
            result.errors += 1
    if writer is not None:
        writer.close()


async def run_load(
    port: int, request: bytes, *, connections: int, seconds: float, max_requests: int
) -> LoadResult:
    """Send ``request`` over ``connections`` keep-alive connections until time or budget ends."""
    loop = asyncio.get_running_loop()
    result = LoadResult()
    budget = [max_requests]
    start = time.perf_counter()
    deadline = loop.time() + seconds
    await asyncio.gather(
        *(_connection(port, request, result, deadline, budget) for _ in range(connections))
    )
    result.seconds = time.perf_counter() - start
    return result


def pin_to_core(core: int) -> None:
    """Keep this process off the servers' core (no-op on a one-core machine)."""
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {core})


@dataclass
class Server:
    """A server subprocess, pinned to one core, started from the repository root."""

    name: str
    argv: list[str]
    port: int
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = REPO  # another checkout serves another version of the code
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    # A file, not a pipe: an unread pipe fills up with log lines and stalls the server.
    log: IO[bytes] = field(
        default_factory=lambda: tempfile.TemporaryFile(prefix="bench-server-")  # noqa: SIM115 - closed by stop()
    )

    def start(self, core: int | None = 0) -> None:
        pin = ["taskset", "-c", str(core)] if core is not None and os.cpu_count() != 1 else []
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            [*pin, *self.argv],
            cwd=self.cwd,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **self.env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Poll the readiness path; return seconds from process start to the first 200."""
        assert self.process is not None
        url = f"http://{HOST}:{self.port}{self.ready_path}"
        while time.perf_counter() - self.started_at < timeout:
            if self.process.poll() is not None:
                self.log.seek(0)
                output = self.log.read().decode(errors="replace")
                sys.exit(f"{self.name} exited with {self.process.returncode}:\n{output[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - self.started_at
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.02)
        self.stop()
        sys.exit(f"{self.name} was not ready after {timeout:.0f} s")

    def rss_mb(self) -> float:
        """Resident set size of the server process (the Python process under taskset)."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        return int(kib) / 1024

    def tree_rss_mb(self) -> float:
        """Resident set size of the server and every process under it (workers, children)."""
        assert self.process is not None
        return process_tree_rss_mb(self.process.pid)

    def output(self) -> str:
        """What the server has written so far."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def process_tree_rss_mb(root: int) -> float:
    """Resident memory (MB) of process ``root`` and every process under it, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, []))
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        rss = [line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")]
        total += int(rss[0]) / 1024 if rss else 0
    return total


def uvicorn_argv(target: str, port: int, *extra: str) -> list[str]:
    """Run ``target`` with the venv's uvicorn, as quietly as possible."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        *extra,
    ]


def service_argv(port: int) -> list[str]:
    """The production command, ``python -m app`` (uvicorn on uvloop + httptools, drain)."""
    return [
        sys.executable,
        "-m",
        "app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
