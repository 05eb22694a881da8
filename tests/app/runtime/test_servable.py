"""Binding compiled artifacts into servables: the contract, the checks, weights, metadata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.runtime.cache import CompileCache
from app.runtime.compiler import compile_versions
from app.runtime.litert import CompilationError
from app.runtime.loader import LoadRequest, ModelLoader
from app.runtime.servable import ModelLoadError, Servable, bind_artifact
from tests.app.conftest import MODEL_NAME, known_weights
from tests.app.samples import mnist_test_set
from tests.app.saved_models import export_flat_input_model, export_mlp_model


@pytest.fixture(scope="module")
def artifact(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    (result,) = compile_versions([model_dir / MODEL_NAME / "1"], tmp_path_factory.mktemp("a"))
    assert isinstance(result, Path), result
    return result


def rewrite_artifact(source: Path, target: Path, **changes: Any) -> Path:
    with np.load(source) as files:
        arrays = {key: files[key] for key in files.files}
    arrays.update(changes)
    np.savez(target, **arrays)
    return target


def test_the_servable_computes_softmax_of_its_weights(artifact: Path, model_dir: Path) -> None:
    servable = bind_artifact(MODEL_NAME, 1, model_dir / MODEL_NAME / "1", artifact.read_bytes())
    weights, bias = known_weights()
    assert servable.weights is not None
    np.testing.assert_array_equal(servable.weights.W, weights)
    np.testing.assert_array_equal(servable.weights.b, bias)
    images, _ = mnist_test_set()
    result = servable.predict(images)
    # Derived independently of the model: y = softmax(x W + b) with x in [0, 1].
    logits = images.reshape(len(images), -1).astype(np.float64) / 255 @ weights + bias
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(result.digits, logits.argmax(axis=1))
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-5)
    metadata = json.loads((model_dir / MODEL_NAME / "1" / "metadata.json").read_text())
    assert servable.metadata == metadata


def test_the_servers_own_check_refuses_an_artifact_that_disagrees_with_tensorflow(
    artifact: Path, model_dir: Path, tmp_path: Path
) -> None:
    """The second check, in the server: probe answers that the flatbuffer does not reproduce."""
    with np.load(artifact) as files:
        expected = files["probe_expected"]
    shifted = np.roll(expected, 1, axis=1)  # every argmax moves
    forged = rewrite_artifact(artifact, tmp_path / "forged.npz", probe_expected=shifted)
    with pytest.raises(ModelLoadError, match="disagrees with TensorFlow: argmax differs"):
        bind_artifact(MODEL_NAME, 1, model_dir / MODEL_NAME / "1", forged.read_bytes())


def test_a_damaged_artifact_is_a_load_error(
    artifact: Path, model_dir: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(artifact.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="unreadable"):
        bind_artifact(MODEL_NAME, 1, model_dir / MODEL_NAME / "1", damaged.read_bytes())


def copy_version(model_dir: Path, target: Path) -> Path:
    shutil.copytree(model_dir / MODEL_NAME / "1", target / "1")
    return target / "1"


def test_metadata_is_optional_but_must_be_a_json_object(
    artifact: Path, model_dir: Path, tmp_path: Path
) -> None:
    version = copy_version(model_dir, tmp_path)
    (version / "metadata.json").unlink()
    assert bind_artifact(MODEL_NAME, 1, version, artifact.read_bytes()).metadata == {}
    (version / "metadata.json").write_text("{")
    with pytest.raises(ModelLoadError, match="unreadable"):
        bind_artifact(MODEL_NAME, 1, version, artifact.read_bytes())
    (version / "metadata.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ModelLoadError, match="JSON object"):
        bind_artifact(MODEL_NAME, 1, version, artifact.read_bytes())


def load(path: Path) -> Servable:
    (outcome,) = ModelLoader(CompileCache(None)).load([LoadRequest(MODEL_NAME, 1, path)])
    if outcome.servable is None:
        raise ModelLoadError(outcome.error)
    return outcome.servable


def test_a_model_outside_the_serving_contract_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not follow the serving contract"):
        load(export_flat_input_model(tmp_path / "1"))


def test_any_architecture_on_the_contract_is_served_without_weight_maps(tmp_path: Path) -> None:
    """An MLP exports no W [784, 10]: it is served all the same, with no weight maps."""
    import tensorflow as tf

    version = export_mlp_model(tmp_path / "1")
    servable = load(version)
    assert servable.weights is None
    images, _ = mnist_test_set(count=64)
    expected = tf.saved_model.load(str(version)).signatures["serving_default"](
        images=tf.constant(images)
    )
    result = servable.predict(images)
    np.testing.assert_array_equal(result.digits, expected["digit"].numpy())
    np.testing.assert_allclose(result.probabilities, expected["probabilities"].numpy(), atol=1e-5)


def test_a_closed_servable_refuses_work(artifact: Path, model_dir: Path) -> None:
    servable = bind_artifact(MODEL_NAME, 1, model_dir / MODEL_NAME / "1", artifact.read_bytes())
    servable.close()
    with pytest.raises(RuntimeError, match="unloaded"):
        servable.predict(np.zeros((1, 28, 28), np.uint8))


def test_compilation_errors_name_the_version(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "saved_model.pb").write_bytes(b"\x08\x01 truncated")
    with pytest.raises(ModelLoadError, match=f"could not load {tmp_path / '1'}"):
        load(tmp_path / "1")
    assert issubclass(CompilationError, RuntimeError)


def calibrated_copy(model_dir: Path, target: Path, calibration: object) -> Path:
    """The test model's version 1 with ``calibration`` in its metadata.json."""
    shutil.copytree(model_dir / MODEL_NAME / "1", target)
    metadata = json.loads((target / "metadata.json").read_text())
    (target / "metadata.json").write_text(json.dumps({**metadata, "calibration": calibration}))
    return target


def test_a_calibrated_version_serves_softmax_of_its_logits_over_the_temperature(
    artifact: Path, model_dir: Path, tmp_path: Path
) -> None:
    path = calibrated_copy(model_dir, tmp_path / "1", {"temperature": 2.5})
    servable = bind_artifact(MODEL_NAME, 1, path, artifact.read_bytes())
    assert servable.temperature == 2.5
    weights, bias = known_weights()
    images, _ = mnist_test_set()
    logits = images.reshape(len(images), -1).astype(np.float64) / 255 @ weights + bias
    scaled = np.exp((logits - logits.max(axis=1, keepdims=True)) / 2.5)
    scaled /= scaled.sum(axis=1, keepdims=True)
    result = servable.predict(images)
    np.testing.assert_allclose(result.probabilities, scaled, atol=1e-5)
    np.testing.assert_array_equal(result.digits, logits.argmax(axis=1))  # T never changes one
    assert result.probabilities.dtype == np.float32


@pytest.mark.parametrize(
    "calibration",
    [
        {"temperature": 0},
        {"temperature": 0.05},
        {"temperature": 11},
        {"temperature": "2"},
        {"temperature": True},
        {},
        [2],
    ],
)
def test_a_malformed_temperature_refuses_the_version_with_its_reason(
    artifact: Path, model_dir: Path, tmp_path: Path, calibration: object
) -> None:
    path = calibrated_copy(model_dir, tmp_path / "1", calibration)
    with pytest.raises(ModelLoadError, match=r"calibration\.temperature must be a number"):
        bind_artifact(MODEL_NAME, 1, path, artifact.read_bytes())


def test_no_calibration_serves_the_model_as_it_is(
    artifact: Path, model_dir: Path, tmp_path: Path
) -> None:
    path = calibrated_copy(model_dir, tmp_path / "1", None)
    servable = bind_artifact(MODEL_NAME, 1, path, artifact.read_bytes())
    assert servable.temperature == 1.0


def test_a_servable_knows_whether_its_model_takes_any_batch(
    artifact: Path, model_dir: Path
) -> None:
    servable = bind_artifact(MODEL_NAME, 1, model_dir / MODEL_NAME / "1", artifact.read_bytes())
    try:
        assert servable.batchable  # what occlusion explanations need
        assert servable.probabilities(np.zeros((200, 28, 28), np.uint8)).shape == (200, 10)
    finally:
        servable.close()
