"""The architectures the training job can build, by the name ``--model`` takes."""

from __future__ import annotations

from training.models.base import IMAGE_SIZE, NUM_CLASSES, NUM_PIXELS, DigitModel
from training.models.cnn import ConvolutionalNetwork
from training.models.mlp import MultilayerPerceptron
from training.models.softmax import SoftmaxRegression

ARCHITECTURES: dict[str, type[DigitModel]] = {
    model.architecture: model
    for model in (SoftmaxRegression, MultilayerPerceptron, ConvolutionalNetwork)
}


def build_model(architecture: str, seed: int = 0) -> DigitModel:
    """A freshly initialised model of ``architecture`` (a key of :data:`ARCHITECTURES`)."""
    return ARCHITECTURES[architecture](seed=seed)


__all__ = [
    "ARCHITECTURES",
    "IMAGE_SIZE",
    "NUM_CLASSES",
    "NUM_PIXELS",
    "ConvolutionalNetwork",
    "DigitModel",
    "MultilayerPerceptron",
    "SoftmaxRegression",
    "build_model",
]
