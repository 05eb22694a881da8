"""Compiling SavedModel versions in one child process, as the service does for every load."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.runtime.compiler import compile_versions
from app.runtime.litert import PROBABILITY_TOLERANCE, CompilationError
from app.runtime.servable import bind_artifact
from tests.app.runtime.stand_ins import compiler_runs
from training.calibrate import softmax

REPO = Path(__file__).resolve().parents[3]
MODEL_DIR = REPO / "model" / "mnist" / "1"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> list[Path | CompilationError]:
    """One child for three versions: the committed model, a corrupt one, the model again."""
    root = tmp_path_factory.mktemp("versions")
    corrupt = root / "corrupt"
    corrupt.mkdir()
    (corrupt / "saved_model.pb").write_bytes(b"not a protocol buffer")
    output = tmp_path_factory.mktemp("artifacts")
    return compile_versions([MODEL_DIR, corrupt, MODEL_DIR], output)


def test_each_version_gets_an_artifact_or_its_own_one_line_error(
    compiled: list[Path | CompilationError],
) -> None:
    first, broken, again = compiled
    assert isinstance(first, Path)
    assert isinstance(again, Path)
    assert isinstance(broken, CompilationError)
    assert "could not load" in str(broken)
    assert "corrupt" in str(broken)
    assert "\n" not in str(broken)
    assert "Traceback" not in str(broken)
    # The broken version in the middle did not cost the one after it.
    assert first.read_bytes() == again.read_bytes()


def test_the_artifact_predicts_like_the_saved_model(
    compiled: list[Path | CompilationError],
) -> None:
    import tensorflow as tf

    artifact = compiled[0]
    assert isinstance(artifact, Path)
    servable = bind_artifact("mnist", 1, MODEL_DIR, artifact.read_bytes())
    loaded = tf.saved_model.load(str(MODEL_DIR))
    images = np.random.default_rng(7).integers(0, 256, size=(300, 28, 28), dtype=np.uint8)
    expected = loaded.signatures["serving_default"](images=tf.constant(images))
    # The compiled model itself, before the servable applies the version's calibration.
    uncalibrated = servable._model.predict(images)
    np.testing.assert_allclose(
        uncalibrated, expected["probabilities"].numpy(), atol=PROBABILITY_TOLERANCE
    )
    actual = servable.predict(images)
    np.testing.assert_array_equal(actual.digits, expected["digit"].numpy())
    calibrated = softmax(expected["logits"].numpy(), servable.temperature)
    np.testing.assert_allclose(actual.probabilities, calibrated, atol=PROBABILITY_TOLERANCE)
    assert servable.weights is not None
    np.testing.assert_array_equal(servable.weights.W, loaded.W.numpy())
    np.testing.assert_array_equal(servable.weights.b, loaded.b.numpy())
    assert servable.signature_names == ["serving_default", "weights"]
    assert servable.outputs["probabilities"].shape == (None, 10)


def test_a_child_that_dies_fails_every_version_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in interpreter that crashes the way an out-of-memory kill would look.
    compiler_runs("echo 'Killed: out of memory' >&2\nexit 137", tmp_path, monkeypatch)
    results = compile_versions([MODEL_DIR, MODEL_DIR], tmp_path)
    assert [str(r) for r in results] == [
        f"could not load {MODEL_DIR}: Killed: out of memory",
        f"could not load {MODEL_DIR}: Killed: out of memory",
    ]


def test_a_child_that_hangs_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compiler_runs("exec sleep 30", tmp_path, monkeypatch)
    (result,) = compile_versions([MODEL_DIR], tmp_path, timeout=0.5)
    assert isinstance(result, CompilationError)
    assert "took over 0 s" in str(result) or "took over 1 s" in str(result)


def test_loading_leaves_tensorflow_out_of_the_server_process(tmp_path: Path) -> None:
    # Checked in a fresh interpreter: this test process may have imported TensorFlow itself.
    repository = tmp_path / "mnist"
    shutil.copytree(MODEL_DIR, repository / "1")
    code = (
        "import sys; from pathlib import Path;"
        "from app.runtime.cache import CompileCache;"
        "from app.runtime.loader import LoadRequest, ModelLoader;"
        f"request = LoadRequest('mnist', 1, Path({str(repository / '1')!r}));"
        "[o] = ModelLoader(CompileCache(None)).load([request]);"
        "assert o.servable is not None, o.error; print('tensorflow' in sys.modules)"
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
        timeout=300,
    )
    assert child.stdout.strip().splitlines()[-1] == "False"


def test_a_killed_child_fails_its_versions_with_the_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiler_runs("exec sleep 30", tmp_path, monkeypatch)
    (result,) = compile_versions([MODEL_DIR], tmp_path, on_start=lambda child: child.kill())
    assert str(result) == f"could not load {MODEL_DIR}: the compiler was stopped by signal 9"
