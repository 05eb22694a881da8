"""A small convolutional network, sized to answer one digit in well under 150 µs on one core.

Three convolution stages shrink the 28x28 image to 3x3x32 features before the dense layer, so the
network holds 52k parameters (210 KB). With two stages the dense layer alone held 200k (800 KB):
read once per request, those weights pushed the server's own working set out of the core's L2
cache and cost ~100 µs a request over HTTP against 30 µs of arithmetic (docs/training.md).
"""

from __future__ import annotations

import tensorflow as tf

from training.models.base import IMAGE_SIZE, NUM_CLASSES, DigitModel, he_normal


class ConvolutionalNetwork(DigitModel):
    """Three 3x3 convolution + 2x2 max-pool stages, then a dense ReLU layer and the classifier."""

    architecture = "cnn"
    channels = (1, 16, 32, 32)
    hidden = 128
    description = (
        "CNN: "
        + "".join(f"conv3x3x{width}, maxpool, " for width in channels[1:])
        + f"dense {hidden}, dense 10 (ReLU)"
    )

    def __init__(self, seed: int = 0, name: str | None = None) -> None:
        super().__init__(name=name)
        self.filters: list[tf.Variable] = []
        self.filter_biases: list[tf.Variable] = []
        for layer, (fan_in, fan_out) in enumerate(
            zip(self.channels, self.channels[1:], strict=False)
        ):
            kernel = he_normal([3, 3, fan_in, fan_out], 9 * fan_in, (seed, layer))
            self.filters.append(tf.Variable(kernel, name=f"conv{layer}/kernel"))
            self.filter_biases.append(tf.Variable(tf.zeros([fan_out]), name=f"conv{layer}/bias"))
        side = IMAGE_SIZE
        for _ in self.channels[1:]:
            side //= 2  # each stage's 2x2 max-pool (VALID: an odd side loses its last row)
        flat = side * side * self.channels[-1]
        self.dense = tf.Variable(
            he_normal([flat, self.hidden], flat, (seed, 10)), name="dense/kernel"
        )
        self.dense_bias = tf.Variable(tf.zeros([self.hidden]), name="dense/bias")
        self.classifier = tf.Variable(
            he_normal([self.hidden, NUM_CLASSES], self.hidden, (seed, 11)), name="classifier/kernel"
        )
        self.classifier_bias = tf.Variable(tf.zeros([NUM_CLASSES]), name="classifier/bias")

    def logits(self, x: tf.Tensor) -> tf.Tensor:
        """Logits ``[N, 10]`` for float images ``[N, 28, 28]`` scaled to [0, 1]."""
        h = tf.expand_dims(x, -1)
        for kernel, bias in zip(self.filters, self.filter_biases, strict=True):
            h = tf.nn.relu(tf.nn.conv2d(h, kernel, strides=1, padding="SAME") + bias)
            h = tf.nn.max_pool2d(h, ksize=2, strides=2, padding="VALID")
        h = tf.reshape(h, [-1, self.dense.shape[0]])
        h = tf.nn.relu(tf.matmul(h, self.dense) + self.dense_bias)
        return tf.matmul(h, self.classifier) + self.classifier_bias

    @property
    def decayed(self) -> list[tf.Variable]:
        """Every convolution and dense kernel."""
        return [*self.filters, self.dense, self.classifier]
