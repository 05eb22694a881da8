"""A multilayer perceptron: two ReLU hidden layers on the flattened pixels."""

from __future__ import annotations

import tensorflow as tf

from training.models.base import NUM_CLASSES, NUM_PIXELS, DigitModel, he_normal


class MultilayerPerceptron(DigitModel):
    """784 -> 256 -> 128 -> 10, ReLU between the dense layers."""

    architecture = "mlp"
    description = "multilayer perceptron 784 -> 256 -> 128 -> 10, ReLU"
    widths = (NUM_PIXELS, 256, 128, NUM_CLASSES)

    def __init__(self, seed: int = 0, name: str | None = None) -> None:
        super().__init__(name=name)
        self.kernels: list[tf.Variable] = []
        self.biases: list[tf.Variable] = []
        for layer, (fan_in, fan_out) in enumerate(zip(self.widths, self.widths[1:], strict=False)):
            kernel = he_normal([fan_in, fan_out], fan_in, (seed, layer))
            self.kernels.append(tf.Variable(kernel, name=f"dense{layer}/kernel"))
            self.biases.append(tf.Variable(tf.zeros([fan_out]), name=f"dense{layer}/bias"))

    def logits(self, x: tf.Tensor) -> tf.Tensor:
        """Logits ``[N, 10]`` for float images ``[N, 28, 28]`` scaled to [0, 1]."""
        h = tf.reshape(x, [-1, NUM_PIXELS])
        for kernel, bias in zip(self.kernels[:-1], self.biases[:-1], strict=True):
            h = tf.nn.relu(tf.matmul(h, kernel) + bias)
        return tf.matmul(h, self.kernels[-1]) + self.biases[-1]

    @property
    def decayed(self) -> list[tf.Variable]:
        """Every dense kernel."""
        return list(self.kernels)
