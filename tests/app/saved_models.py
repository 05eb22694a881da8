"""SavedModels of other shapes than the softmax, exported with TensorFlow for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def export_mlp_model(folder: Path, seed: int = 3) -> Path:
    """A small MLP on the serving contract: images uint8 [N, 28, 28] -> probabilities, digit."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    class Mlp(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.hidden = tf.Variable(rng.normal(0, 0.05, (784, 32)).astype(np.float32))
            self.out = tf.Variable(rng.normal(0, 0.2, (32, 10)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.uint8, name="images")])  # type: ignore[untyped-decorator]
        def serve(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
            x = tf.reshape(tf.cast(images, tf.float32) / 255.0, [-1, 784])
            logits = tf.matmul(tf.nn.relu(tf.matmul(x, self.hidden)), self.out)
            return {
                "probabilities": tf.nn.softmax(logits),
                "digit": tf.argmax(logits, axis=1),
                "logits": logits,
            }

    module = Mlp()
    tf.saved_model.save(
        module, str(folder), signatures={"serving_default": module.serve.get_concrete_function()}
    )
    return folder


def export_flat_input_model(folder: Path) -> Path:
    """A model that takes float [N, 784] instead of uint8 [N, 28, 28]: off the contract."""
    import tensorflow as tf

    class FlatInput(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.W = tf.Variable(tf.zeros([784, 10]))

        @tf.function(input_signature=[tf.TensorSpec([None, 784], tf.float32, name="images")])  # type: ignore[untyped-decorator]
        def serve(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
            logits = tf.matmul(images, self.W)
            return {"probabilities": tf.nn.softmax(logits), "digit": tf.argmax(logits, axis=1)}

    module = FlatInput()
    tf.saved_model.save(
        module, str(folder), signatures={"serving_default": module.serve.get_concrete_function()}
    )
    return folder
