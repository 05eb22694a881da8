"""The compiled fast path agrees with the SavedModel it was compiled from."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from app.contract import Pixels, Probabilities
from app.runtime import compiler
from app.runtime.compiler import compile_serving_signature
from app.runtime.litert import (
    PROBABILITY_TOLERANCE,
    CompilationError,
    CompiledModel,
    check_agreement,
)

REPO = Path(__file__).resolve().parents[3]
MODEL_DIR = REPO / "model" / "mnist" / "1"
# CI lays shared/ beside the clone; a worktree elsewhere points at it with MNIST_DATA_DIR.
MNIST_DIR = Path(os.environ.get("MNIST_DATA_DIR", REPO.parent / "shared" / "mnist"))
MNIST_TEST_IMAGES = MNIST_DIR / "t10k-images-idx3-ubyte.gz"


@pytest.fixture(scope="module")
def loaded() -> Any:
    import tensorflow as tf

    return tf.saved_model.load(str(MODEL_DIR))


@pytest.fixture(scope="module")
def compiled(loaded: Any) -> CompiledModel:
    return CompiledModel(compile_serving_signature(loaded))


def mnist_test_images() -> np.ndarray[Any, np.dtype[np.uint8]]:
    with gzip.open(MNIST_TEST_IMAGES) as f:
        data = f.read()
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(-1, 28, 28)


def test_the_compiled_model_agrees_with_tensorflow_on_the_whole_test_set(
    loaded: Any, compiled: CompiledModel
) -> None:
    import tensorflow as tf

    images = mnist_test_images()
    expected = loaded.signatures["serving_default"](images=tf.constant(images))
    # Uneven slices exercise every padding bucket and the chunking of large batches.
    sizes = [1, 2, 3, 5, 64, 100, 300, 1000]
    parts: list[np.ndarray[Any, np.dtype[np.float32]]] = []
    start = 0
    while start < len(images):
        size = sizes[len(parts) % len(sizes)]
        parts.append(compiled.predict(images[start : start + size]))
        start += size
    actual = np.concatenate(parts)

    assert len(images) == 10_000
    np.testing.assert_array_equal(actual.argmax(axis=1), expected["digit"].numpy())
    np.testing.assert_allclose(
        actual, expected["probabilities"].numpy(), atol=PROBABILITY_TOLERANCE
    )


def test_an_empty_batch_gives_no_rows(compiled: CompiledModel) -> None:
    assert compiled.predict(np.zeros((0, 28, 28), dtype=np.uint8)).shape == (0, 10)


@pytest.mark.parametrize(
    "pixels",
    [np.zeros((1, 28, 28), dtype=np.float32), np.zeros((1, 28, 27), dtype=np.uint8)],
    ids=["float", "27 columns"],
)
def test_inputs_that_are_not_uint8_28x28_are_refused(
    compiled: CompiledModel, pixels: np.ndarray[Any, Any]
) -> None:
    with pytest.raises(ValueError, match=r"expected uint8 \[N, 28, 28\]"):
        compiled.predict(pixels)


def test_a_saved_model_without_the_serving_signature_is_refused() -> None:
    with pytest.raises(CompilationError, match="serving_default"):
        compile_serving_signature(SimpleNamespace(signatures={}))


def test_agreement_check_catches_each_kind_of_mismatch() -> None:
    expected = np.array([[0.7, 0.3], [0.2, 0.8]], dtype=np.float32)
    assert check_agreement(expected.copy(), expected) is None
    assert check_agreement(expected + 5e-6, expected) is None
    assert "argmax" in str(check_agreement(expected[:, ::-1], expected))
    assert "difference" in str(check_agreement(expected + 1e-3, expected))
    assert "shape" in str(check_agreement(expected[:1], expected))


def test_a_compiled_model_that_disagrees_with_tensorflow_is_refused(
    loaded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check in the compiling child: a conversion that drifts is never handed over."""

    class Drifting(CompiledModel):
        def predict(self, pixels: Pixels) -> Probabilities:
            return super().predict(pixels) + np.float32(1e-3)

    monkeypatch.setattr(compiler, "CompiledModel", Drifting)
    with pytest.raises(CompilationError, match="disagrees with TensorFlow: largest probability"):
        compile_serving_signature(loaded)


def test_a_closed_model_answers_no_more(loaded: Any) -> None:
    model = CompiledModel(compile_serving_signature(loaded))
    model.close()
    with pytest.raises(RuntimeError, match="unloaded"):
        model.predict(np.zeros((1, 28, 28), dtype=np.uint8))


def test_the_compiled_model_says_whether_it_takes_batches_of_any_size(
    compiled: CompiledModel,
) -> None:
    import tensorflow as tf

    assert compiled.dynamic_batch  # the serving contract's [None, 28, 28]

    class OneImage(tf.Module):  # type: ignore[misc]
        @tf.function(input_signature=[tf.TensorSpec([1, 28, 28], tf.uint8, name="images")])  # type: ignore[untyped-decorator]
        def serve(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
            logits = tf.reshape(tf.cast(images, tf.float32), [1, 784])[:, :10]
            return {"probabilities": tf.nn.softmax(logits), "digit": tf.argmax(logits, axis=1)}

    module = OneImage()
    function = module.serve.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], module)
    fixed = CompiledModel(converter.convert())
    assert not fixed.dynamic_batch
    assert fixed.predict(np.zeros((1, 28, 28), np.uint8)).shape == (1, 10)
