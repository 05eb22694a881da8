"""Ray Serve: two replicas of the app answer, one is killed, requests keep succeeding.

Ray lives in its own venv (``make ray``, which ``make pytest`` and CI run): the check runs there
as a child process (benchmarks/ray_failover.py) and reports what happened as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.app.server_process import REPO, free_port
from tests.mnist_files import mnist_dir

RAY_PYTHON = Path(os.environ.get("RAY_PYTHON", REPO / ".venv-ray" / "bin" / "python"))
# Ray's start, two replicas and a replacement take ~30 s here; this only guards against a hang.
GUARD_SECONDS = 300


def test_the_serve_config_deploys_this_module() -> None:
    for path in sorted((REPO / "deploy" / "ray").glob("*.yaml")):
        (application,) = yaml.safe_load(path.read_text())["applications"]
        module, attribute = application["import_path"].split(":")
        assert (REPO / Path(*module.split("."))).with_suffix(".py").is_file(), path.name
        assert f"\n{attribute} = " in (REPO / "app" / "ray_serve.py").read_text()
        (deployment,) = application["deployments"]
        assert deployment["name"] == "mnist"
        assert deployment["health_check_period_s"] > 0


@pytest.mark.slow
def test_two_replicas_answer_and_a_killed_one_is_replaced(tmp_path: Path) -> None:
    if not RAY_PYTHON.is_file():
        pytest.skip(f"Ray is not installed at {RAY_PYTHON} (make ray builds it; make pytest does)")
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("MNIST_", "RAY_"))
    }
    env |= {"PYTHONPATH": str(REPO), "MNIST_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [
            str(RAY_PYTHON), "-m", "benchmarks.ray_failover",
            "--port", str(free_port()), "--mnist-dir", str(mnist_dir()), "--timeout", "90",
            "--output", str(tmp_path / "report.json"),
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=GUARD_SECONDS, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["configs_valid"] == ["serve-autoscaling.yaml", "serve.yaml"]
    # Serve's health check is the readiness: a replica without its models fails it.
    assert report["health_check_refuses_without_models"] is True
    # Both replicas answered the concurrent requests, each image with one digit, the right one
    # for as many as the model gets right (~92 %).
    assert report["replicas_answering"] == 2
    assert report["answers_consistent"] is True
    assert report["correct_of_32"] >= 28
    assert report["phase1_lost"] == 0
    # A replica killed under load: Serve replaced it, and no request was lost (after retries).
    assert report["replacement_answered_after_seconds"] is not None, report
    assert report["requests_during_failover"] > 0
    assert report["lost_after_retries"] == 0, report
