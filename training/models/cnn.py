"""A small convolutional network, sized to answer one digit in well under 150 µs on one core.

The service's throughput with the CNN must stay within 0.8x of the softmax's, so the network is
shaped by what a call costs on one core more than by its arithmetic alone (docs/training.md,
"The CNN's shape"). Its first convolution runs at full resolution (28x28) and its later ones at
7x7: the middle stage steps by two instead of computing a 14x14 map and pooling it, which cuts
the arithmetic to a third of three full stages (452k multiply-adds instead of 1.5M) at the same
accuracy. The dense layer sees 3x3x32 features, so the network holds 45k parameters (180 KB):
a two-stage CNN with 200k (800 KB) pushed the server's own working set out of the core's L2
cache and cost ~100 µs a request over HTTP against 30 µs of arithmetic.
"""

from __future__ import annotations

import tensorflow as tf

from training.models.base import IMAGE_SIZE, NUM_CLASSES, DigitModel, he_normal


def _describe(stages: tuple[tuple[int, int, bool], ...], hidden: int) -> str:
    """The layers in words, as metadata.json and the training log print them."""
    parts = [
        f"conv3x3x{width}"
        + (f" stride {stride}" if stride > 1 else "")
        + (", maxpool" if pool else "")
        for width, stride, pool in stages
    ]
    return "CNN: " + ", ".join(parts) + f", dense {hidden}, dense 10 (ReLU)"


class ConvolutionalNetwork(DigitModel):
    """Strided and max-pooled 3x3 convolutions, then a dense ReLU layer and the classifier."""

    architecture = "cnn"
    # (output channels, stride, 2x2 max-pool after) of each 3x3 convolution, ReLU after each:
    # 28x28 -> pool 14x14 -> stride 2 7x7 -> pool 3x3.
    stages: tuple[tuple[int, int, bool], ...] = ((16, 1, True), (16, 2, False), (32, 1, True))
    hidden = 128
    description = _describe(stages, hidden)

    def __init__(self, seed: int = 0, name: str | None = None) -> None:
        super().__init__(name=name)
        self.filters: list[tf.Variable] = []
        self.filter_biases: list[tf.Variable] = []
        fan_in, side = 1, IMAGE_SIZE
        for layer, (fan_out, stride, pool) in enumerate(self.stages):
            kernel = he_normal([3, 3, fan_in, fan_out], 9 * fan_in, (seed, layer))
            self.filters.append(tf.Variable(kernel, name=f"conv{layer}/kernel"))
            self.filter_biases.append(tf.Variable(tf.zeros([fan_out]), name=f"conv{layer}/bias"))
            side = -(-side // stride)  # SAME padding keeps ceil(side / stride)
            if pool:
                side //= 2  # VALID 2x2 max-pool: an odd side loses its last row
            fan_in = fan_out
        flat = side * side * fan_in
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
        for (_, stride, pool), kernel, bias in zip(
            self.stages, self.filters, self.filter_biases, strict=True
        ):
            h = tf.nn.relu(tf.nn.conv2d(h, kernel, strides=stride, padding="SAME") + bias)
            if pool:
                h = tf.nn.max_pool2d(h, ksize=2, strides=2, padding="VALID")
        h = tf.reshape(h, [-1, self.dense.shape[0]])
        h = tf.nn.relu(tf.matmul(h, self.dense) + self.dense_bias)
        return tf.matmul(h, self.classifier) + self.classifier_bias

    @property
    def decayed(self) -> list[tf.Variable]:
        """Every convolution and dense kernel."""
        return [*self.filters, self.dense, self.classifier]
