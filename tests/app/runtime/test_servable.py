"""The model runtime: version resolution, loading, contract checks, predictions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.runtime.servable import ModelLoadError, ModelRuntime, find_version
from tests.app.conftest import MODEL_NAME, known_weights
from tests.app.samples import mnist_test_set


def fake_versions(root: Path, *names: str) -> Path:
    """Version folders holding an (empty) saved_model.pb; enough for version resolution."""
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "saved_model.pb").touch()
    return root


def test_newest_version_is_chosen(tmp_path: Path) -> None:
    root = fake_versions(tmp_path, "1", "2", "10")
    (root / "11").mkdir()  # no saved_model.pb: not a complete version
    (root / ".tmp-12").mkdir()  # an export in progress
    assert find_version(root) == 10


def test_pinned_version(tmp_path: Path) -> None:
    root = fake_versions(tmp_path, "1", "2")
    assert find_version(root, 1) == 1
    with pytest.raises(ModelLoadError, match=r"version 3 .* does not exist .*: 1, 2\)"):
        find_version(root, 3)


def test_no_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no model at"):
        find_version(tmp_path / "absent")
    with pytest.raises(ModelLoadError, match="no model versions"):
        find_version(tmp_path)


def test_loaded_runtime_matches_the_weights(runtime: ModelRuntime) -> None:
    weights, bias = known_weights()
    assert runtime.ready
    assert runtime.version == 1
    np.testing.assert_array_equal(runtime.weights, weights)
    np.testing.assert_array_equal(runtime.bias, bias)
    images, _ = mnist_test_set()
    result = runtime.predict(images)
    logits = images.reshape(len(images), -1).astype(np.float32) / 255 @ weights + bias
    np.testing.assert_array_equal(result.digits, logits.argmax(axis=1))
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-6)


def test_predict_refuses_other_arrays(runtime: ModelRuntime) -> None:
    with pytest.raises(ValueError, match="uint8"):
        runtime.predict(np.zeros((1, 28, 28), np.float32))
    with pytest.raises(ValueError, match="28, 28"):
        runtime.predict(np.zeros((1, 28, 27), np.uint8))


def copy_version(model_dir: Path, target: Path) -> Path:
    shutil.copytree(model_dir / MODEL_NAME / "1", target / "1")
    return target


def test_corrupt_savedmodel(model_dir: Path, tmp_path: Path) -> None:
    root = copy_version(model_dir, tmp_path)
    (root / "1" / "saved_model.pb").write_bytes(b"\x08\x01garbage")
    runtime = ModelRuntime(root, MODEL_NAME)
    with pytest.raises(ModelLoadError, match="is corrupt"):
        runtime.load()
    assert not runtime.ready


@pytest.mark.parametrize(("content", "problem"), [(None, "missing"), ("{", "unreadable")])
def test_bad_metadata(model_dir: Path, tmp_path: Path, content: str | None, problem: str) -> None:
    root = copy_version(model_dir, tmp_path)
    metadata = root / "1" / "metadata.json"
    if content is None:
        metadata.unlink()
    else:
        metadata.write_text(content)
    with pytest.raises(ModelLoadError, match=problem):
        ModelRuntime(root, MODEL_NAME).load()


def test_metadata_must_be_an_object(model_dir: Path, tmp_path: Path) -> None:
    root = copy_version(model_dir, tmp_path)
    (root / "1" / "metadata.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ModelLoadError, match="JSON object"):
        ModelRuntime(root, MODEL_NAME).load()


def test_a_model_outside_the_serving_contract_is_refused(tmp_path: Path) -> None:
    import tensorflow as tf

    class FlatInput(tf.Module):  # type: ignore[misc]
        """Takes float [N, 784] instead of uint8 [N, 28, 28]."""

        def __init__(self) -> None:
            super().__init__()
            self.W = tf.Variable(tf.zeros([784, 10]))

        @tf.function(input_signature=[tf.TensorSpec([None, 784], tf.float32, name="images")])  # type: ignore[untyped-decorator]
        def serve(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
            logits = tf.matmul(images, self.W)
            return {"probabilities": tf.nn.softmax(logits), "digit": tf.argmax(logits, axis=1)}

        @tf.function(input_signature=[])  # type: ignore[untyped-decorator]
        def weights(self) -> dict[str, tf.Tensor]:
            return {"W": tf.identity(self.W), "b": tf.zeros([10])}

    module = FlatInput()
    version = tmp_path / "1"
    signatures = {
        "serving_default": module.serve.get_concrete_function(),
        "weights": module.weights.get_concrete_function(),
    }
    tf.saved_model.save(module, str(version), signatures=signatures)
    (version / "metadata.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="does not follow the serving contract"):
        ModelRuntime(tmp_path, MODEL_NAME).load()
