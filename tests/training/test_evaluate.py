"""Test-set evaluation: accuracy, per-class accuracy and the confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.training.synthetic import digits
from training.evaluate import confusion_matrix, evaluate, report
from training.models import SoftmaxRegression


def test_confusion_matrix_counts_true_rows_against_predicted_columns() -> None:
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0])
    assert matrix.shape == (10, 10)
    assert matrix[0].tolist()[:3] == [1, 1, 0]
    assert matrix[1, 1] == 1
    assert matrix[2].tolist()[:3] == [1, 0, 2]
    assert matrix.sum() == 6


def always(digit: int) -> SoftmaxRegression:
    """A model whose bias makes it answer ``digit`` for every image."""
    model = SoftmaxRegression()
    model.b.assign(tf.one_hot(digit, 10))
    return model


def test_evaluation_of_a_model_that_always_answers_three() -> None:
    images, labels = digits(40, seed=6)
    labels[:5] = 3  # make 3 frequent enough to matter, and leave digit 9 absent
    labels[labels == 9] = 4
    result = evaluate(always(3), images, labels)

    assert result.examples == 40
    assert result.accuracy == pytest.approx(np.mean(labels == 3))
    assert result.per_class_accuracy[3] == 1.0
    assert result.per_class_accuracy[4] == 0.0
    assert result.per_class_accuracy[9] == 0.0  # absent digit: reported as 0, list stays 10 long
    assert len(result.per_class_accuracy) == 10
    column = [row[3] for row in result.confusion_matrix]
    assert column == np.bincount(labels, minlength=10).tolist()


def test_evaluation_matches_the_serving_signature_argmax() -> None:
    images, labels = digits(30, seed=7)
    model = SoftmaxRegression()
    model.W.assign(tf.random.stateless_normal([784, 10], seed=[3, 4]))
    predicted = np.argmax(model.serve(tf.constant(images))["logits"].numpy(), axis=1)
    result = evaluate(model, images, labels)
    assert result.accuracy == pytest.approx(np.mean(predicted == labels))


def test_report_shows_accuracy_and_the_matrix() -> None:
    images, labels = digits(20, seed=8)
    text = report(evaluate(always(1), images, labels))
    lines = text.splitlines()
    assert lines[0].startswith(f"test accuracy {np.mean(labels == 1):.4f} on 20 images")
    assert len(lines) == 12  # summary, header, ten digit rows
