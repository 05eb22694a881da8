"""Client half of scripts/docker-smoke.sh: checks that a running container serves real predictions.

Standard library only, so that it runs with any host Python 3.11 and needs neither the project's
virtualenv nor curl: real MNIST test digits are read from the IDX files and sent as PNG images.

    python3 scripts/docker_smoke_check.py --url http://127.0.0.1:8000 \\
        --mnist-dir ../shared/mnist --expect-version 2 [--wait 120] [--expect-cache hit]

With ``--wait`` it first polls ``GET /models`` until the default model serves that version (the
running container picking up a newly trained one), for at most that many seconds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import struct
import sys
import time
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_SIZE = 28


def read_digit(mnist_dir: Path, index: int) -> tuple[bytes, int]:
    """Pixels (28*28 bytes, 255 = ink) and label of test example ``index`` from the gz IDX files."""
    with gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz", "rb") as images:
        magic, count, rows, cols = struct.unpack(">IIII", images.read(16))
        if magic != 2051 or (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE) or not 0 <= index < count:
            raise ValueError(f"unexpected MNIST image file header or index {index}")
        images.seek(16 + index * rows * cols)
        pixels = images.read(rows * cols)
    with gzip.open(mnist_dir / "t10k-labels-idx1-ubyte.gz", "rb") as labels:
        labels.seek(8 + index)
        label = labels.read(1)[0]
    return pixels, label


def encode_png(pixels: bytes, width: int = IMAGE_SIZE, height: int = IMAGE_SIZE) -> bytes:
    """An 8-bit greyscale PNG (the format is small enough that stdlib zlib suffices)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    # Each scanline starts with filter type 0 (none).
    raw = b"".join(b"\x00" + pixels[row * width : (row + 1) * width] for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def request(url: str, data: bytes | None = None, content_type: str | None = None) -> bytes:
    """The body of a 2xx response; anything else raises with the server's error body."""
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{req.method} {url} -> {exc.code}: {exc.read()[:500]!r}") from exc


def get_json(url: str, data: bytes | None = None, content_type: str | None = None) -> Any:
    """Decoded JSON body of a 2xx response."""
    return json.loads(request(url, data, content_type))


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body with one ``files`` part per PNG, and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = [
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + b"\r\n"
        for name, data in files
    ]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def check(condition: bool, message: str) -> None:
    """Print a passed check, or fail the run with ``message``."""
    if not condition:
        raise AssertionError(message)
    print(f"  ok  {message}")


def served_version(url: str) -> tuple[int | None, dict[str, Any]]:
    """The version the default model serves now, and its entry in ``GET /models``."""
    listing = get_json(f"{url}/models")
    [model] = [m for m in listing["models"] if m["name"] == listing["default_model"]]
    return model["served_version"], model


def wait_for_version(url: str, version: int, seconds: float) -> None:
    """Poll until the default model serves ``version``; AssertionError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        served, model = served_version(url)
        if served == version:
            check(True, f"version {version} served after a poll ({model['versions']})")
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"version {version} not served after {seconds:.0f} s: {model}")
        time.sleep(1)


def run(url: str, mnist_dir: Path, expect_version: int, expect_cache: str | None = None) -> None:
    """All checks against the service at ``url``; raises AssertionError on the first failure."""
    if expect_cache is not None:
        _, model = served_version(url)
        [entry] = [v for v in model["versions"] if v["version"] == expect_version]
        check(entry["cache"] == expect_cache, f"version {expect_version} loaded: {entry}")
    ready = get_json(f"{url}/health/ready")
    check(ready["model"]["version"] == expect_version, f"/health/ready serves version {ready}")

    pixels, label = read_digit(mnist_dir, 0)
    raw = get_json(f"{url}/predict", encode_png(pixels), "image/png")
    digit = raw["predictions"][0]["digit"]
    check(raw["model"]["version"] == expect_version, f"raw PNG body answered by {raw['model']}")
    check(digit == label, f"test digit #0 (label {label}) predicted as {digit}")

    indices = (1, 2)
    samples = [read_digit(mnist_dir, index) for index in indices]
    body, content_type = multipart(
        [
            (f"test-{index}.png", encode_png(px))
            for index, (px, _) in zip(indices, samples, strict=True)
        ]
    )
    predictions = get_json(f"{url}/predict", body, content_type)["predictions"]
    got = [p["digit"] for p in predictions]
    want = [lab for _, lab in samples]
    check(got == want, f"multipart test digits #1, #2 (labels {want}) predicted as {got}")

    weights = request(f"{url}/weights.png")
    check(weights.startswith(PNG_SIGNATURE), f"/weights.png is a PNG ({len(weights)} bytes)")

    model = get_json(f"{url}/model")
    accuracy = model["metadata"]["test_accuracy"]
    check(model["version"] == expect_version, f"/model reports version {model['version']}")
    check(accuracy > 0.85, f"served model's test accuracy is {accuracy:.4f}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit status 1 on a failed check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="base URL of the service")
    parser.add_argument("--mnist-dir", type=Path, required=True, help="directory with t10k-*.gz")
    parser.add_argument("--expect-version", type=int, required=True, help="version to be served")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for that version")
    parser.add_argument("--expect-cache", choices=["hit", "miss"], help="how it was loaded")
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    try:
        if args.wait:
            wait_for_version(url, args.expect_version, args.wait)
        run(url, args.mnist_dir, args.expect_version, args.expect_cache)
    except (AssertionError, KeyError, OSError) as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
