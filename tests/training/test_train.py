"""The training loop: it learns, is deterministic for a seed, and its loss is numerically sound."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.training.synthetic import digits
from training.config import DEFAULT_LEARNING_RATES, OPTIMIZERS, TrainConfig
from training.models import SoftmaxRegression
from training.train import Trainer, make_optimizer


def fit(config: TrainConfig) -> tuple[SoftmaxRegression, Trainer, list[float], list[float]]:
    images, labels = digits(500, seed=5)
    model = SoftmaxRegression()
    trainer = Trainer(model, config)
    history = trainer.fit(images[100:], labels[100:], images[:100], labels[:100], progress=False)
    assert history.steps == config.epochs * -(-400 // config.batch_size)
    return model, trainer, history.loss, history.validation_accuracy


def test_training_learns_separable_digits_and_the_loss_falls() -> None:
    _, _, loss, validation_accuracy = fit(TrainConfig(epochs=3, batch_size=64))
    assert loss[0] > loss[-1]
    assert validation_accuracy[-1] >= 0.95  # chance is 0.1


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    first, *_ = fit(TrainConfig(epochs=2, batch_size=64, seed=7, optimizer="sgd"))
    again, *_ = fit(TrainConfig(epochs=2, batch_size=64, seed=7, optimizer="sgd"))
    other, *_ = fit(TrainConfig(epochs=2, batch_size=64, seed=8, optimizer="sgd"))
    np.testing.assert_array_equal(first.W.numpy(), again.W.numpy())
    np.testing.assert_array_equal(first.b.numpy(), again.b.numpy())
    assert not np.array_equal(first.W.numpy(), other.W.numpy())


def test_fit_restores_the_process_wide_determinism_mode() -> None:
    from tensorflow.python.framework import config as tf_config

    assert not tf_config.is_op_determinism_enabled()
    fit(TrainConfig(epochs=1, batch_size=200, optimizer="sgd"))
    assert not tf_config.is_op_determinism_enabled()


def test_loss_is_finite_for_extreme_logits() -> None:
    """The loss is computed from logits, so huge logits do not overflow a softmax first."""
    model = SoftmaxRegression()
    model.W.assign(tf.fill([784, 10], 1e4))
    model.b.assign(tf.constant([0.0] * 9 + [-1e4]))
    images = tf.fill([2, 784], 1.0)
    loss = Trainer(model, TrainConfig(l2=0.0)).loss(images, tf.constant([9, 0]))
    assert np.isfinite(loss.numpy())
    assert loss.numpy() == pytest.approx(5e3, rel=1e-3)  # mean of (1e4, 0) nats


def test_l2_adds_half_the_squared_weights() -> None:
    model = SoftmaxRegression()
    model.W.assign(tf.fill([784, 10], 0.5))
    x, y = tf.zeros([1, 784]), tf.constant([3])
    plain = Trainer(model, TrainConfig(l2=0.0)).loss(x, y).numpy()
    decayed = Trainer(model, TrainConfig(l2=0.01)).loss(x, y).numpy()
    assert decayed - plain == pytest.approx(0.01 * 7840 * 0.25 / 2, rel=1e-5)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_choice_builds_with_its_default_rate(name: str) -> None:
    config = TrainConfig(optimizer=name)
    optimizer = make_optimizer(name, config.effective_learning_rate)
    assert type(optimizer).__name__.lower() == name
    assert float(optimizer.learning_rate) == pytest.approx(DEFAULT_LEARNING_RATES[name])


def test_explicit_learning_rate_wins_and_unknown_optimizer_is_refused() -> None:
    assert TrainConfig(optimizer="sgd", learning_rate=0.1).effective_learning_rate == 0.1
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        TrainConfig(optimizer="lbfgs")
