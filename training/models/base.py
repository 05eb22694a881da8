"""The serving contract every architecture exports, and the base class that implements it.

The contract (what ``app/`` relies on, whatever the architecture):

- ``serving_default`` takes ``images``: ``uint8`` ``[N, 28, 28]``, MNIST polarity (0 = background,
  255 = ink), and returns ``probabilities`` ``float32 [N, 10]``, ``logits`` ``float32 [N, 10]`` and
  ``digit`` ``int64 [N]``. Scaling to [0, 1] happens inside the graph, so clients send raw bytes.
- Models whose only layer is linear on the pixels also export ``weights`` (``W`` ``[784, 10]``,
  ``b`` ``[10]``): the service draws them as weight maps.

A subclass defines its variables, :meth:`DigitModel.logits` and :attr:`DigitModel.decayed`; the
signatures, the parameter count and the scaling are shared, so no two architectures can disagree
on what a client sends.
"""

from __future__ import annotations

import math
from typing import ClassVar

import tensorflow as tf

IMAGE_SIZE = 28
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
NUM_CLASSES = 10


def he_normal(shape: list[int], fan_in: int, seed: tuple[int, int]) -> tf.Tensor:
    """He initialisation for ReLU layers, from a stateless generator: the seed fixes the model."""
    stddev = math.sqrt(2.0 / fan_in)
    return tf.random.stateless_truncated_normal(shape, seed=list(seed), stddev=stddev)


class DigitModel(tf.Module):  # type: ignore[misc]
    """A classifier of uint8 28x28 digits that exports the serving contract."""

    architecture: ClassVar[str]
    description: ClassVar[str]

    @staticmethod
    def inputs(images: tf.Tensor) -> tf.Tensor:
        """uint8 images ``[N, 28, 28]`` as floats in [0, 1], same shape.

        Training and serving share this function so that they can never disagree on scaling.
        """
        return tf.cast(images, tf.float32) / 255.0

    def logits(self, x: tf.Tensor) -> tf.Tensor:
        """Logits ``[N, 10]`` for float images ``[N, 28, 28]`` already scaled to [0, 1]."""
        raise NotImplementedError

    @property
    def decayed(self) -> list[tf.Variable]:
        """The variables L2 weight decay applies to (kernels, not biases)."""
        raise NotImplementedError

    def parameter_count(self) -> int:
        """How many numbers the model learns."""
        return sum(int(variable.shape.num_elements()) for variable in self.trainable_variables)

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

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """The signatures to export with ``tf.saved_model.save``."""
        return {"serving_default": self.serve.get_concrete_function()}
