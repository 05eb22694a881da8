"""The OpenAPI document is exact: schemathesis fuzzes a live server against it, every check.

Schemathesis (pinned in the dev lock) generates schema-valid and schema-invalid requests for
every operation and checks the answers: no 5xx, every status and content type documented,
response bodies and headers as the schema says, schema-invalid requests refused with a 4xx and
schema-valid ones accepted. The seed is fixed and the examples bounded (tests/app/
schemathesis.toml), so the run is repeatable and takes about a minute.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.app.server_process import REPO, running_server

SCHEMATHESIS = Path(sys.executable).with_name("st")
CONFIG = REPO / "tests" / "app" / "schemathesis.toml"


@pytest.mark.slow
def test_schemathesis_finds_no_failure_against_a_live_server(tmp_path: Path) -> None:
    with running_server({}, tmp_path / "server.log") as server:
        command = [str(SCHEMATHESIS), "--config-file", str(CONFIG), "run"]
        result = subprocess.run(
            [*command, f"{server.url}/openapi.json", "--checks", "all", "--no-color"],
            cwd=tmp_path,  # schemathesis keeps a cache folder where it runs
            env={
                **os.environ,
                "PYTHONPATH": str(REPO),
                "SCHEMATHESIS_HOOKS": "tests.app.schemathesis_hooks",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
            check=False,
        )
    assert result.returncode == 0, result.stdout[-20000:]
    assert " passed" in result.stdout, result.stdout[-20000:]
    assert "failed" not in result.stdout, result.stdout[-20000:]


def test_the_documented_limits_are_the_configured_ones(make_app: Callable[..., FastAPI]) -> None:
    openapi = make_app(max_files=5).openapi()
    for path in ("/predict", "/models/{name}/predict", "/models/{name}/versions/{version}/predict"):
        body = openapi["paths"][path]["post"]["requestBody"]["content"]
        files = body["multipart/form-data"]["schema"]["properties"]["files"]
        assert (files["minItems"], files["maxItems"]) == (1, 5)
        assert body["image/*"]["schema"]["minLength"] == 1


def test_the_standard_protocols_document_their_path_parameters(
    make_app: Callable[..., FastAPI],
) -> None:
    paths = make_app().openapi()["paths"]
    for path, operations in paths.items():
        for operation in operations.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path
