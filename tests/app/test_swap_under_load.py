"""Versions swapped in and out of a real server under concurrent load: not one request fails.

The server polls a repository that starts with version 1; while clients keep predicting, new
versions are moved in (as training does: built aside, renamed into place) and the newest is
removed again (a rollback). Every answer must be a 200 that names a version, and its
probabilities must be the ones *that* version's weights give, computed here from scratch: a
response that named one version but was computed by another would be caught.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.app.conftest import MODEL_NAME, known_weights
from tests.app.samples import mnist_test_set, png
from tests.app.server_process import running_server

pytestmark = [pytest.mark.slow, pytest.mark.anyio]
CLIENTS = 8
ANSWERS_PER_VERSION = 30  # each version must have answered this many before the next swap
GUARD_SECONDS = 120  # a hang guard for each swap, not a speed target
# Versions and the weights they hold: 3 and 4 repeat 1 and 2 (cache hits, so swaps are quick).
SEEDS = {1: 7, 2: 8, 3: 7, 4: 8}


def expected_probabilities(image: np.ndarray[Any, Any], seed: int) -> np.ndarray[Any, Any]:
    weights, bias = known_weights(seed)
    logits = image.reshape(1, -1).astype(np.float64) / 255 @ weights + bias
    exp = np.exp(logits - logits.max())
    return (exp / exp.sum())[0]  # type: ignore[no-any-return]


def move_in(source: Path, model: Path, version: int) -> None:
    staging = model / f".tmp-{version}"
    shutil.copytree(source, staging)
    staging.rename(model / str(version))


async def test_swaps_under_load_fail_no_request(
    repository_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    model = tmp_path / "repo" / MODEL_NAME
    sources = {seed: repository_dir / MODEL_NAME / str(v) for v, seed in ((1, 7), (2, 8))}
    move_in(sources[7], model, 1)
    image = mnist_test_set(count=1)[0][0]
    body = png(image)
    answers: list[tuple[int, int | None, list[float] | None]] = []
    failures: list[str] = []
    stop = asyncio.Event()

    async def client(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            try:
                response = await http.post(
                    "/predict", content=body, headers={"Content-Type": "image/png"}
                )
            except httpx.TransportError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if response.status_code != 200:
                answers.append((response.status_code, None, None))
                continue
            payload = response.json()
            version = payload["model"]["version"]
            answers.append((200, version, payload["predictions"][0]["probabilities"]))

    async def served_enough(http: httpx.AsyncClient, version: int) -> None:
        """Until ``version`` is the only one listed and has answered its share of requests."""
        deadline = time.monotonic() + GUARD_SECONDS
        while time.monotonic() < deadline:
            listed = (await http.get("/models")).json()["models"][0]["versions"]
            only = [v["version"] for v in listed] == [version]
            if only and sum(1 for _, v, _ in answers if v == version) >= ANSWERS_PER_VERSION:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"version {version} was not served alone in time: {listed}")

    env = {
        "MNIST_MODEL_DIR": str(model.parent),
        "MNIST_CACHE_DIR": str(cache_dir),
        "MNIST_POLL_SECONDS": "0.1",
    }
    with running_server(env, tmp_path / "server.log") as server:
        limits = httpx.Limits(max_connections=CLIENTS + 1)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http:
            load = [asyncio.create_task(client(http)) for _ in range(CLIENTS)]
            await served_enough(http, 1)
            move_in(sources[8], model, 2)  # a new version
            await served_enough(http, 2)
            move_in(sources[7], model, 3)  # another
            await served_enough(http, 3)
            shutil.rmtree(model / "3")  # a rollback: 2 comes back
            await served_enough(http, 2)
            move_in(sources[8], model, 4)
            await served_enough(http, 4)
            stop.set()
            await asyncio.gather(*load)
    log = server.output()  # once stopped: log lines are buffered for up to a second

    assert failures == []
    statuses = Counter(status for status, _, _ in answers)
    assert statuses == {200: len(answers)}, statuses
    by_version = Counter(version for _, version, _ in answers)
    assert set(by_version) == {1, 2, 3, 4}
    for version, seed in SEEDS.items():
        expected = expected_probabilities(image, seed)
        computed = [p for _, v, p in answers if v == version and p is not None]
        np.testing.assert_allclose(computed, np.tile(expected, (len(computed), 1)), atol=1e-5)
    assert "Traceback" not in log
    # 1, 2, 3, then 2 again while serving; 4 at shutdown.
    assert log.count('"message":"model version unloading"') == 5
