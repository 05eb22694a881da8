"""The model: softmax regression y = softmax(xW + b), as a SavedModel-ready ``tf.Module``.

The serving contract (what ``app/`` relies on):

- ``serving_default`` takes ``images``: ``uint8`` ``[N, 28, 28]``, MNIST polarity (0 = background,
  255 = ink), and returns ``probabilities`` ``float32 [N, 10]``, ``logits`` ``float32 [N, 10]`` and
  ``digit`` ``int64 [N]``. Scaling to [0, 1] happens inside the graph, so clients send raw bytes.
- ``weights`` takes nothing and returns ``W`` ``float32 [784, 10]`` and ``b`` ``float32 [10]``.
- The loaded object also exposes the variables directly as ``loaded.W`` and ``loaded.b``.
"""

from __future__ import annotations

import tensorflow as tf

IMAGE_SIZE = 28
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
NUM_CLASSES = 10


class SoftmaxRegression(tf.Module):  # type: ignore[misc]
    """y = softmax(xW + b) on flattened 28x28 images scaled to [0, 1]."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        # Zero init is the tutorial's choice and is optimal for a convex model, and it leaves
        # nothing random in the model: a run's seed only orders its minibatches.
        self.W = tf.Variable(tf.zeros([NUM_PIXELS, NUM_CLASSES]), name="W")
        self.b = tf.Variable(tf.zeros([NUM_CLASSES]), name="b")

    @staticmethod
    def inputs(images: tf.Tensor) -> tf.Tensor:
        """Flatten uint8 images ``[N, 28, 28]`` to floats ``[N, 784]`` scaled to [0, 1].

        Training and serving share this function so that they can never disagree on scaling.
        """
        return tf.reshape(tf.cast(images, tf.float32) / 255.0, [-1, NUM_PIXELS])

    def logits(self, x: tf.Tensor) -> tf.Tensor:
        """Logits for a float batch ``[N, 784]`` already scaled to [0, 1]."""
        return tf.matmul(x, self.W) + self.b

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE], tf.uint8, name="images"),
        ]
    )
    def serve(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """The serving signature: raw uint8 images in, probabilities, logits and digit out."""
        logits = self.logits(self.inputs(images))
        return {
            "probabilities": tf.nn.softmax(logits),
            "logits": logits,
            "digit": tf.argmax(logits, axis=1, output_type=tf.int64),
        }

    @tf.function(input_signature=[])
    def weights(self) -> dict[str, tf.Tensor]:
        """The learned parameters, for visualisation."""
        return {"W": tf.identity(self.W), "b": tf.identity(self.b)}

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """The signatures to export with ``tf.saved_model.save``."""
        return {
            "serving_default": self.serve.get_concrete_function(),
            "weights": self.weights.get_concrete_function(),
        }
