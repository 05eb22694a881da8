"""The SavedModel contract that the service relies on."""

from pathlib import Path

import numpy as np
import tensorflow as tf

from training.models import NUM_CLASSES, SoftmaxRegression


def test_exported_signature_matches_the_serving_contract(tmp_path: Path) -> None:
    model = SoftmaxRegression()
    model.W.assign(tf.random.stateless_normal([784, NUM_CLASSES], seed=[1, 2]))
    model.b.assign(tf.range(NUM_CLASSES, dtype=tf.float32) / 10)
    tf.saved_model.save(model, str(tmp_path), signatures=model.signatures())

    loaded = tf.saved_model.load(str(tmp_path))
    images = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    out = loaded.signatures["serving_default"](images=tf.constant(images))

    x = images.reshape(3, -1).astype(np.float32) / 255.0
    expected_logits = x @ model.W.numpy() + model.b.numpy()
    np.testing.assert_allclose(out["logits"].numpy(), expected_logits, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(out["digit"].numpy(), expected_logits.argmax(axis=1))
    np.testing.assert_array_equal(loaded.W.numpy(), model.W.numpy())
    np.testing.assert_array_equal(loaded.signatures["weights"]()["b"].numpy(), model.b.numpy())
