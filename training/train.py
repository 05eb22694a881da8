"""The training loop: minibatch descent on the cross-entropy, one compiled call per epoch.

The tutorial returns to Python for every step (400-750 steps/s here). This loop keeps every
step of an epoch inside one ``tf.function`` (a ``tf.while_loop`` over minibatches gathered from
tensors that stay in the graph), so Python is only visited once per epoch to update the progress
bar: about 3x the steps/s (``python -m benchmarks.train_speed``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import config as tf_config
from tqdm import tqdm

from training.augment import Augmentation, augment
from training.config import TrainConfig
from training.data import Images, Labels
from training.errors import DivergedError
from training.models import DigitModel


@dataclass
class History:
    """What happened during training, epoch by epoch."""

    loss: list[float] = field(default_factory=list)
    validation_accuracy: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0


@contextmanager
def deterministic_ops() -> Iterator[None]:
    """Run TensorFlow ops deterministically inside the block, then restore the previous mode.

    Restoring matters because the switch is process-wide: a service or test suite that trains
    in-process should not find its own random ops refused afterwards. The public API can only
    enable the mode, so disabling goes through TensorFlow's config module (pinned version).
    """
    was_enabled = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            tf_config.disable_op_determinism()


def make_optimizer(
    name: str, learning_rate: float, *, decay_steps: int = 0
) -> tf.keras.optimizers.Optimizer:
    """A Keras optimizer by its short name; ``decay_steps > 0`` anneals its rate to 0 (cosine)."""
    rate: Any = learning_rate
    if decay_steps > 0:
        rate = tf.keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    factories: dict[str, Callable[[Any], tf.keras.optimizers.Optimizer]] = {
        "sgd": tf.keras.optimizers.SGD,
        "adam": tf.keras.optimizers.Adam,
        "adagrad": tf.keras.optimizers.Adagrad,
        "rmsprop": tf.keras.optimizers.RMSprop,
    }
    return factories[name](rate)


def augmentation(config: TrainConfig) -> Augmentation:
    """The augmentation ranges of a run."""
    return Augmentation(
        rotate_degrees=config.rotate_degrees,
        scale=config.scale,
        shear=config.shear,
        shift_pixels=config.shift_pixels,
        thickness=config.thickness,
    )


class Trainer:
    """Fits a model to uint8 images and labels, one compiled epoch at a time."""

    def __init__(self, model: DigitModel, config: TrainConfig, *, train_examples: int = 0) -> None:
        self.model = model
        self.config = config
        self.augmentation = augmentation(config)
        steps = config.epochs * -(-train_examples // config.batch_size)
        decay_steps = steps if config.schedule == "cosine" else 0
        self.optimizer = make_optimizer(
            config.optimizer, config.effective_learning_rate, decay_steps=decay_steps
        )

    def loss(self, x: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """Mean cross-entropy computed from logits (the numerically stable form) plus L2."""
        cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=self.model.logits(x)
        )
        decay = tf.add_n([tf.nn.l2_loss(variable) for variable in self.model.decayed])
        return tf.reduce_mean(cross_entropy) + self.config.l2 * decay

    def step(self, images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """One minibatch update (on augmented copies, if configured); returns its loss."""
        variables = self.model.trainable_variables
        x = self.model.inputs(images)
        if self.augmentation.enabled:
            x = augment(x, self.augmentation, seed)
        with tf.GradientTape() as tape:
            loss = self.loss(x, labels)
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    @tf.function
    def run_epoch(self, images: tf.Tensor, labels: tf.Tensor, epoch: tf.Tensor) -> tf.Tensor:
        """All minibatches of one epoch in a fixed seeded order; returns the mean minibatch loss."""
        count = tf.shape(images)[0]
        batch = self.config.batch_size
        # A stateless shuffle keyed on (seed, epoch) makes each run reproducible on its own,
        # whatever else touched the global random state before.
        seed = tf.stack([tf.constant(self.config.seed, tf.int64), tf.cast(epoch, tf.int64)])
        order = tf.argsort(tf.random.stateless_uniform([count], seed=seed))
        steps = (count + batch - 1) // batch
        total = tf.constant(0.0)
        for step in tf.range(steps):
            indices = order[step * batch : (step + 1) * batch]
            step_seed = tf.stack([seed[0] * 1_000_003 + seed[1], tf.cast(step, tf.int64)])
            total += self.step(tf.gather(images, indices), tf.gather(labels, indices), step_seed)
        return total / tf.cast(steps, tf.float32)

    @tf.function
    def accuracy(self, images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """Fraction of ``images`` whose predicted digit is the label."""
        predicted = tf.argmax(self.model.logits(self.model.inputs(images)), axis=1)
        return tf.reduce_mean(tf.cast(tf.equal(predicted, tf.cast(labels, tf.int64)), tf.float32))

    def fit(
        self,
        train_images: Images,
        train_labels: Labels,
        validation_images: Images,
        validation_labels: Labels,
        *,
        progress: bool = True,
    ) -> History:
        """Train for ``config.epochs`` epochs; a tqdm bar shows loss and validation accuracy."""
        images = tf.constant(train_images)
        labels = tf.constant(train_labels.astype(np.int32))
        val_images = tf.constant(validation_images)
        val_labels = tf.constant(validation_labels.astype(np.int32))
        steps_per_epoch = -(-len(train_images) // self.config.batch_size)
        history = History()
        start = time.perf_counter()
        with (
            deterministic_ops(),
            tqdm(
                total=self.config.epochs * steps_per_epoch,
                desc="training",
                unit="step",
                disable=not progress,
                dynamic_ncols=True,
            ) as bar,
        ):
            for epoch in range(self.config.epochs):
                loss = float(self.run_epoch(images, labels, tf.constant(epoch, tf.int64)))
                if not math.isfinite(loss):
                    raise DivergedError(
                        f"training diverged in epoch {epoch + 1} (loss {loss}); nothing was"
                        " exported: try a smaller --learning-rate"
                    )
                history.loss.append(loss)
                if len(validation_images):
                    history.validation_accuracy.append(float(self.accuracy(val_images, val_labels)))
                history.steps += steps_per_epoch
                bar.update(steps_per_epoch)
                postfix = {"epoch": epoch + 1, "loss": f"{loss:.4f}"}
                if history.validation_accuracy:
                    postfix["val_acc"] = f"{history.validation_accuracy[-1]:.4f}"
                bar.set_postfix(postfix)
        history.seconds = time.perf_counter() - start
        return history
