"""The committed default model ``model/mnist/1`` keeps the promises its metadata makes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.mnist_files import require_mnist
from tests.training.test_cli import CONTRACT_KEYS
from training.data import SHA256, load_mnist

DEFAULT_MODEL = Path(__file__).parents[2] / "model" / "mnist" / "1"


@pytest.fixture(scope="module")
def metadata() -> dict[str, object]:
    document: dict[str, object] = json.loads((DEFAULT_MODEL / "metadata.json").read_text())
    return document


def test_metadata_follows_the_contract_and_meets_the_target(metadata: dict[str, object]) -> None:
    assert set(metadata) == CONTRACT_KEYS
    assert (metadata["name"], metadata["version"]) == ("mnist", 1)
    assert metadata["data_checksums"] == SHA256  # trained on the canonical files
    assert metadata["test_examples"] == 10000
    accuracy = metadata["test_accuracy"]
    assert isinstance(accuracy, float)
    assert accuracy >= 0.925


def test_the_model_scores_its_recorded_accuracy_on_the_real_test_set(
    metadata: dict[str, object],
) -> None:
    mnist = load_mnist(require_mnist())
    loaded = tf.saved_model.load(str(DEFAULT_MODEL))
    out = loaded.signatures["serving_default"](images=tf.constant(mnist.test_images))
    digits = out["digit"].numpy()
    assert float(np.mean(digits == mnist.test_labels)) == metadata["test_accuracy"]
    matrix = np.zeros((10, 10), dtype=int)
    np.add.at(matrix, (mnist.test_labels, digits), 1)
    assert matrix.tolist() == metadata["confusion_matrix"]
