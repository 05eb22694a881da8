"""Every architecture learns, exports the serving contract and serves the same digits compiled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from app.runtime.compiler import compile_versions
from app.runtime.servable import bind_artifact
from tests.training.synthetic import digits
from training.config import ARCHITECTURE_NAMES, TrainConfig
from training.export import export_model
from training.models import ARCHITECTURES, ConvolutionalNetwork, DigitModel, build_model
from training.train import Trainer


def test_every_architecture_name_builds_its_class() -> None:
    assert tuple(ARCHITECTURES) == ARCHITECTURE_NAMES
    for name in ARCHITECTURE_NAMES:
        model = build_model(name)
        assert model.architecture == name
        assert model.parameter_count() == sum(
            int(np.prod(variable.shape)) for variable in model.trainable_variables
        )


def test_parameter_counts_follow_the_layer_sizes() -> None:
    assert build_model("softmax").parameter_count() == 784 * 10 + 10
    assert build_model("mlp").parameter_count() == (784 + 1) * 256 + (256 + 1) * 128 + 129 * 10
    conv = (9 * 1 + 1) * 16 + (9 * 16 + 1) * 16 + (9 * 16 + 1) * 32
    # Pool, stride 2, pool: 28 -> 14 -> 7 -> 3 (the odd row and column are dropped).
    assert build_model("cnn").parameter_count() == conv + (3 * 3 * 32 + 1) * 128 + 129 * 10


def test_the_seed_fixes_the_initial_weights() -> None:
    for name in ("mlp", "cnn"):
        first, again, other = build_model(name, 3), build_model(name, 3), build_model(name, 4)
        for a, b, c in zip(
            first.trainable_variables,
            again.trainable_variables,
            other.trainable_variables,
            strict=True,
        ):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
            if a.shape.rank > 1:
                assert not np.array_equal(a.numpy(), c.numpy())


STILL = {"rotate_degrees": 0.0, "scale": 0.0, "shear": 0.0, "shift_pixels": 0.0, "thickness": 0.0}


@pytest.fixture(scope="module")
def trained() -> dict[str, tuple[DigitModel, float]]:
    """Each architecture fitted for a few epochs to separable digits.

    Augmentation is off: the stand-in digits' class is the row of their band, which shifts and
    rotations would blur (it has its own tests).
    """
    images, labels = digits(600, seed=5)
    fitted = {}
    for name in ARCHITECTURE_NAMES:
        config = TrainConfig.for_model(name, epochs=4, batch_size=50, **STILL)
        model = build_model(name)
        history = Trainer(model, config, train_examples=500).fit(
            images[100:], labels[100:], images[:100], labels[:100], progress=False
        )
        fitted[name] = (model, history.validation_accuracy[-1])
    return fitted


@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHITECTURE_NAMES)
def test_each_architecture_learns_separable_digits(
    trained: dict[str, tuple[DigitModel, float]], name: str
) -> None:
    _, accuracy = trained[name]
    assert accuracy >= 0.9  # chance is 0.1


@pytest.fixture(scope="module")
def exported(
    trained: dict[str, tuple[DigitModel, float]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        name: export_model(model, root, f"digits-{name}", {"architecture": name})
        for name, (model, _) in trained.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHITECTURE_NAMES)
def test_each_architecture_exports_the_serving_contract(
    exported: dict[str, Path], name: str
) -> None:
    loaded = tf.saved_model.load(str(exported[name]))
    signature = loaded.signatures["serving_default"]
    (spec,) = signature.structured_input_signature[1].values()
    assert (spec.name, spec.dtype, spec.shape.as_list()) == ("images", tf.uint8, [None, 28, 28])
    outputs = {
        key: (value.dtype, value.shape.as_list())
        for key, value in signature.structured_outputs.items()
    }
    assert outputs == {
        "probabilities": (tf.float32, [None, 10]),
        "logits": (tf.float32, [None, 10]),
        "digit": (tf.int64, [None]),
    }
    images, _ = digits(50, seed=9)
    out = signature(images=tf.constant(images))
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out["digit"].numpy(), out["logits"].numpy().argmax(axis=1))
    # Only a model that is linear on the pixels has weight maps to export.
    assert ("weights" in loaded.signatures) == (name == "softmax")


@pytest.mark.slow
def test_each_architecture_serves_identical_digits_through_the_compiled_runtime(
    exported: dict[str, Path], tmp_path: Path
) -> None:
    names = list(exported)
    artifacts = compile_versions([exported[name] for name in names], tmp_path)
    images = np.concatenate(
        [
            digits(100, seed=11)[0],
            np.random.default_rng(3).integers(0, 256, size=(100, 28, 28), dtype=np.uint8),
        ]
    )
    for name, artifact in zip(names, artifacts, strict=True):
        assert isinstance(artifact, Path), f"{name}: {artifact}"
        servable = bind_artifact(name, 1, exported[name], artifact.read_bytes())
        loaded = tf.saved_model.load(str(exported[name]))
        expected = loaded.signatures["serving_default"](images=tf.constant(images))
        served = servable.predict(images)
        np.testing.assert_array_equal(served.digits, expected["digit"].numpy())
        np.testing.assert_allclose(
            served.probabilities, expected["probabilities"].numpy(), atol=1e-5
        )
        assert (servable.weights is not None) == (name == "softmax")
        servable.close()


def test_strided_and_pooled_stages_size_the_dense_layer() -> None:
    class Odd(ConvolutionalNetwork):
        # 28 -> 14 (stride 2) -> 7 (pool) -> 4 (stride 2, SAME keeps the odd row) -> 2 (pool)
        stages = ((8, 2, False), (8, 1, True), (4, 2, True))

    model = Odd(seed=1)
    assert model.dense.shape == (2 * 2 * 4, ConvolutionalNetwork.hidden)
    assert model.logits(tf.zeros([3, 28, 28])).shape == (3, 10)
