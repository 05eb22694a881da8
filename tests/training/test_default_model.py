"""The committed models ``model/<name>/1`` keep the promises their metadata makes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.mnist_files import require_mnist
from tests.training.test_cli import CONTRACT_KEYS
from training.data import SHA256, load_mnist

MODEL_DIR = Path(__file__).parents[2] / "model"
# name -> (architecture, the least test accuracy it was committed for)
COMMITTED = {"mnist": ("softmax", 0.925), "mnist-mlp": ("mlp", 0.98), "mnist-cnn": ("cnn", 0.992)}


def metadata_of(name: str) -> dict[str, object]:
    document: dict[str, object] = json.loads((MODEL_DIR / name / "1" / "metadata.json").read_text())
    return document


@pytest.mark.parametrize("name", COMMITTED)
def test_metadata_follows_the_contract_and_meets_the_target(name: str) -> None:
    metadata = metadata_of(name)
    architecture, target = COMMITTED[name]
    assert set(metadata) == CONTRACT_KEYS
    assert (metadata["name"], metadata["version"]) == (name, 1)
    assert metadata["architecture"] == architecture
    assert metadata["data_checksums"] == SHA256  # trained on the canonical files
    assert metadata["test_examples"] == 10000
    accuracy = metadata["test_accuracy"]
    assert isinstance(accuracy, float)
    assert accuracy >= target


@pytest.fixture(scope="module")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    mnist = load_mnist(require_mnist())
    return mnist.test_images, mnist.test_labels


@pytest.mark.parametrize("name", COMMITTED)
def test_the_model_scores_its_recorded_accuracy_on_the_real_test_set(
    name: str, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    metadata = metadata_of(name)
    images, labels = mnist_test
    loaded = tf.saved_model.load(str(MODEL_DIR / name / "1"))
    out = loaded.signatures["serving_default"](images=tf.constant(images))
    digits = out["digit"].numpy()
    # oneDNN picks its convolution kernels by CPU, so a digit on a knife's edge between two
    # classes may fall the other way on another machine: allow two of the 10,000 to move.
    assert float(np.mean(digits == labels)) == pytest.approx(metadata["test_accuracy"], abs=2e-4)
    matrix = np.zeros((10, 10), dtype=int)
    np.add.at(matrix, (labels, digits), 1)
    assert np.abs(matrix - np.array(metadata["confusion_matrix"])).sum() <= 4
    stored = tf.train.list_variables(str(MODEL_DIR / name / "1" / "variables" / "variables"))
    parameters = sum(int(np.prod(shape)) for key, shape in stored if "CHECKPOINTABLE" not in key)
    assert parameters == metadata["parameters"]
