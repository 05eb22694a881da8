"""Evaluation on the held-out test set: accuracy, per-class accuracy and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from training.data import NUM_CLASSES, Images, Labels
from training.models import DigitModel


@dataclass(frozen=True)
class Evaluation:
    """Test-set figures, in the form metadata.json records them."""

    accuracy: float
    per_class_accuracy: list[float]
    confusion_matrix: list[list[int]]
    examples: int


def confusion_matrix(labels: npt.ArrayLike, predicted: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """10x10 counts: row = true digit, column = predicted digit."""
    true = np.asarray(labels, dtype=np.int64)
    pred = np.asarray(predicted, dtype=np.int64)
    cells = np.bincount(true * NUM_CLASSES + pred, minlength=NUM_CLASSES * NUM_CLASSES)
    return cells.reshape(NUM_CLASSES, NUM_CLASSES)


def evaluate(model: DigitModel, images: Images, labels: Labels) -> Evaluation:
    """Run the serving signature on every image and compare its digits with the labels."""
    return evaluate_logits(logits_of(model, images), labels)


def evaluate_logits(logits: npt.NDArray[np.float32], labels: Labels) -> Evaluation:
    """The evaluation of the digits these logits give (the signature's argmax)."""
    predicted = logits.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted)
    per_class_total = matrix.sum(axis=1)
    # A digit absent from the test set has no accuracy; 0.0 keeps the list at 10 floats.
    per_class = np.divide(
        np.diag(matrix),
        per_class_total,
        out=np.zeros(NUM_CLASSES),
        where=per_class_total > 0,
    )
    accuracy = float(np.trace(matrix) / max(len(labels), 1))
    return Evaluation(
        accuracy=accuracy,
        per_class_accuracy=[float(value) for value in per_class],
        confusion_matrix=matrix.tolist(),
        examples=len(labels),
    )


def logits_of(model: DigitModel, images: Images) -> npt.NDArray[np.float32]:
    """The serving signature's logits for ``images``."""
    return np.asarray(model.serve(tf.constant(images))["logits"].numpy())


def report(evaluation: Evaluation) -> str:
    """The evaluation as text: accuracy, then the confusion matrix with per-digit accuracy."""
    header = "true\\pred " + " ".join(f"{digit:>5}" for digit in range(NUM_CLASSES)) + "   acc"
    rows = [
        f"{digit:>9} "
        + " ".join(f"{count:>5}" for count in row)
        + f"  {evaluation.per_class_accuracy[digit]:.3f}"
        for digit, row in enumerate(evaluation.confusion_matrix)
    ]
    summary = f"test accuracy {evaluation.accuracy:.4f} on {evaluation.examples} images"
    return "\n".join([summary, header, *rows])
