"""Compiling a SavedModel version in a child process, as the service does at start-up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.runtime.compiler import CompiledSavedModel, compile_saved_model
from app.runtime.litert import PROBABILITY_TOLERANCE, CompilationError

REPO = Path(__file__).resolve().parents[3]
MODEL_DIR = REPO / "model" / "mnist" / "1"


@pytest.fixture(scope="module")
def compiled() -> CompiledSavedModel:
    return compile_saved_model(MODEL_DIR)


def test_the_child_hands_over_a_model_that_predicts_like_the_saved_model(
    compiled: CompiledSavedModel,
) -> None:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(MODEL_DIR))
    images = np.random.default_rng(7).integers(0, 256, size=(300, 28, 28), dtype=np.uint8)
    expected = loaded.signatures["serving_default"](images=tf.constant(images))
    assert compiled.model is not None
    actual = compiled.model.predict(images)
    np.testing.assert_array_equal(actual.argmax(axis=1), expected["digit"].numpy())
    np.testing.assert_allclose(
        actual, expected["probabilities"].numpy(), atol=PROBABILITY_TOLERANCE
    )
    np.testing.assert_array_equal(compiled.weights, loaded.W.numpy())
    np.testing.assert_array_equal(compiled.bias, loaded.b.numpy())
    assert compiled.tensorflow_version == tf.__version__


def test_the_signature_is_described_in_plain_data(compiled: CompiledSavedModel) -> None:
    assert compiled.signature_names == ["serving_default", "weights"]
    assert compiled.inputs == {"images": {"dtype": "uint8", "shape": [None, 28, 28]}}
    outputs: dict[str, Any] = compiled.outputs
    assert outputs["probabilities"] == {"dtype": "float32", "shape": [None, 10]}
    assert outputs["digit"] == {"dtype": "int64", "shape": [None]}


def test_a_corrupt_saved_model_fails_with_the_childs_one_line_reason(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"not a protocol buffer")
    with pytest.raises(CompilationError, match=f"could not load {tmp_path}: ") as caught:
        compile_saved_model(tmp_path)
    assert "\n" not in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_the_child_process_leaves_tensorflow_out_of_this_process() -> None:
    # Checked in a fresh interpreter: this test process may have imported TensorFlow itself.
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path;"
        "from app.runtime.compiler import compile_saved_model;"
        f"compile_saved_model(Path({str(MODEL_DIR)!r})); print('tensorflow' in sys.modules)"
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
