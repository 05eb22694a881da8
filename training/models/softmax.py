"""Softmax regression y = softmax(xW + b): the tutorial's model, the default and the teaching one.

Besides the serving contract (:mod:`training.models.base`) it exports ``weights`` (``W``
``float32 [784, 10]``, ``b`` ``float32 [10]``), which the service draws as the ten weight maps;
the loaded object also exposes the variables directly as ``loaded.W`` and ``loaded.b``.
"""

from __future__ import annotations

import tensorflow as tf

from training.models.base import NUM_CLASSES, NUM_PIXELS, DigitModel


class SoftmaxRegression(DigitModel):
    """y = softmax(xW + b) on flattened 28x28 images scaled to [0, 1]."""

    architecture = "softmax"
    description = "softmax regression y = softmax(xW + b), 784 -> 10"

    def __init__(self, seed: int = 0, name: str | None = None) -> None:
        super().__init__(name=name)
        # Zero init is the tutorial's choice and is optimal for a convex model, and it leaves
        # nothing random in the model: a run's seed only orders its minibatches.
        del seed
        self.W = tf.Variable(tf.zeros([NUM_PIXELS, NUM_CLASSES]), name="W")
        self.b = tf.Variable(tf.zeros([NUM_CLASSES]), name="b")

    def logits(self, x: tf.Tensor) -> tf.Tensor:
        """Logits for float images ``[N, 28, 28]`` (or ``[N, 784]``) scaled to [0, 1]."""
        return tf.matmul(tf.reshape(x, [-1, NUM_PIXELS]), self.W) + self.b

    @property
    def decayed(self) -> list[tf.Variable]:
        """L2 on W pulls rarely inked border pixels back to zero: cleaner weight maps."""
        return [self.W]

    @tf.function(input_signature=[])
    def weights(self) -> dict[str, tf.Tensor]:
        """The learned parameters, for visualisation."""
        return {"W": tf.identity(self.W), "b": tf.identity(self.b)}

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """The serving contract plus the weights the service draws as maps."""
        return {**super().signatures(), "weights": self.weights.get_concrete_function()}
