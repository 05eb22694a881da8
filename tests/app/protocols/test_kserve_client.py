"""KServe's own REST client (``InferenceRESTClient``, protocols v1 and v2) against a real server.

KServe's SDK needs protobuf 6 and the service's LiteRT protobuf 7, so the client runs from its
own venv (``make kserve-client``; ``make test`` builds it and passes ``KSERVE_PYTHON``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.app.protocols.conftest import ATOL
from tests.app.server_process import REPO, Server

KSERVE_PYTHON = os.environ.get("KSERVE_PYTHON", str(REPO / ".venv-kserve" / "bin" / "python"))

# Runs in the KServe venv: the v1 and v2 clients' calls, their answers as JSON on stdout.
_DRIVER = """
import asyncio, json, sys
import numpy as np
from kserve import InferenceRESTClient, RESTConfig
from kserve.protocol.infer_type import InferInput, InferRequest

base_url, images_file = sys.argv[1], sys.argv[2]
images = np.load(images_file)

async def main():
    answers = {}
    v1 = InferenceRESTClient(RESTConfig(protocol="v1"))
    answers["v1_ready"] = await v1.is_model_ready(base_url, "mnist")
    floats = (images / 255.0).reshape(len(images), 784).tolist()
    body = await v1.infer(base_url, {"instances": floats}, model_name="mnist")
    answers["v1"] = body["predictions"]
    await v1.close()
    v2 = InferenceRESTClient(RESTConfig(protocol="v2"))
    answers["v2_live"] = await v2.is_server_live(base_url)
    answers["v2_ready"] = await v2.is_server_ready(base_url)
    answers["v2_model_ready"] = await v2.is_model_ready(base_url, "mnist")
    for binary in (False, True):
        tensor = InferInput("images", list(images.shape), "UINT8")
        tensor.set_data_from_numpy(images, binary_data=binary)
        response = await v2.infer(base_url, InferRequest("mnist", [tensor]), model_name="mnist")
        outputs = {output.name: output.as_numpy().tolist() for output in response.outputs}
        answers[f"v2_binary_{binary}"] = outputs
    await v2.close()
    print(json.dumps(answers))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def answers(server: Server, images: np.ndarray[Any, Any], tmp_path_factory: Any) -> Any:
    if not Path(KSERVE_PYTHON).exists():
        pytest.skip(f"KServe's client venv is missing ({KSERVE_PYTHON}): run `make kserve-client`")
    images_file = tmp_path_factory.mktemp("kserve") / "images.npy"
    np.save(images_file, images)
    result = subprocess.run(
        [KSERVE_PYTHON, "-c", _DRIVER, server.url, str(images_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_kserve_v1_client(answers: Any, expected: tuple[Any, Any]) -> None:
    assert answers["v1_ready"] is True
    rows = answers["v1"]
    np.testing.assert_allclose([r["probabilities"] for r in rows], expected[0], rtol=0, atol=ATOL)
    assert [r["digit"] for r in rows] == expected[1].tolist()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_kserve_v2_client(answers: Any, expected: tuple[Any, Any], binary: bool) -> None:
    assert answers["v2_live"] is True
    assert answers["v2_ready"] is True
    assert answers["v2_model_ready"] is True
    outputs = answers[f"v2_binary_{binary}"]
    np.testing.assert_allclose(outputs["probabilities"], expected[0], rtol=0, atol=ATOL)
    assert outputs["digit"] == expected[1].tolist()
