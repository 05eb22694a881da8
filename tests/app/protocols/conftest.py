"""Shared by the protocol tests: an in-process app over the two-model repository, one real
server process, MNIST images and /predict's answers."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from tests.app.conftest import serving
from tests.app.samples import mnist_test_set, png
from tests.app.server_process import REPO, Server, running_server

COMMITTED = REPO / "model" / "mnist" / "1"
ATOL = 1e-6


@pytest.fixture
async def repo_client(
    make_app: Callable[..., FastAPI], repository_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app over the two-model repository, serving every version."""
    async with serving(make_app(model_dir=repository_dir, version_policy="all")) as client:
        yield client


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service over two models: ``mnist`` (the default) and ``spare``, a copy of it."""
    root = tmp_path_factory.mktemp("repository")
    for name in ("mnist", "spare"):
        shutil.copytree(COMMITTED, root / name / "1")
    log = tmp_path_factory.mktemp("logs") / "server.log"
    with running_server({"MNIST_MODEL_DIR": str(root)}, log) as running:
        yield running


@pytest.fixture(scope="package")
def images() -> np.ndarray[Any, np.dtype[np.uint8]]:
    return mnist_test_set(6)[0]


@pytest.fixture(scope="package")
def expected(server: Server, images: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    """What POST /predict answers for the images: probabilities [N, 10] and digits [N]."""
    files = [("files", (f"{i}.png", png(p), "image/png")) for i, p in enumerate(images)]
    response = httpx.post(f"{server.url}/predict?normalize=never", files=files, timeout=30)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    return (
        np.array([p["probabilities"] for p in predictions], dtype=np.float32),
        np.array([p["digit"] for p in predictions]),
    )
