"""Training speed: compiled epoch loop vs a Python loop over steps, time to accuracy, whole job.

    python -m benchmarks.train_speed [--data-dir ../shared/mnist] [--skip-job]

Prints, from one run on the real MNIST files:
- steps/s of the epoch loop compiled into one ``tf.function`` (what ``python -m training`` uses)
  and of the tutorial-style loop that returns to Python for every minibatch, and their ratio;
- the default run's test accuracy after each epoch and the training time at which it first
  reaches the 92.5 % target;
- the wall time of the whole job ``python -m training`` (start, data, train, evaluate, export).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads its C++ runtime
import tensorflow as tf

from training.config import TrainConfig
from training.data import Images, Labels, Mnist, load_mnist, split_validation
from training.models import SoftmaxRegression
from training.train import Trainer, deterministic_ops

TARGET_ACCURACY = 0.925
REPO = Path(__file__).resolve().parents[1]
BATCH = TrainConfig.batch_size


def compiled_rate(images: tf.Tensor, labels: tf.Tensor, epochs: int) -> float:
    """Steps/s of the epoch loop inside one tf.function (best epoch; tracing not timed)."""
    trainer = Trainer(SoftmaxRegression(), TrainConfig())
    trainer.run_epoch(images, labels, tf.constant(0, tf.int64))
    best = float("inf")
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        trainer.run_epoch(images, labels, tf.constant(epoch, tf.int64))
        best = min(best, time.perf_counter() - start)
    return -(-len(labels) // BATCH) / best


def python_rate(images: Images, labels: Labels, epochs: int) -> float:
    """Steps/s of the tutorial-style loop: Python feeds each batch to a compiled step.

    The best epoch of each loop is compared, so that other processes on a shared machine distort
    the ratio as little as possible.
    """
    trainer = Trainer(SoftmaxRegression(), TrainConfig())
    step = tf.function(trainer.step)
    targets = labels.astype(np.int32)
    step(tf.constant(images[:BATCH]), tf.constant(targets[:BATCH]))
    rng = np.random.default_rng(0)
    best = float("inf")
    for _ in range(epochs):
        start = time.perf_counter()
        order = rng.permutation(len(images))
        for first in range(0, len(images), BATCH):
            indices = order[first : first + BATCH]
            step(tf.constant(images[indices]), tf.constant(targets[indices]))
        best = min(best, time.perf_counter() - start)
    return -(-len(images) // BATCH) / best


def time_to_accuracy(mnist: Mnist, images: tf.Tensor, labels: tf.Tensor) -> float | None:
    """Print test accuracy per epoch of a default run; return the training seconds to target."""
    config = TrainConfig()
    trainer = Trainer(SoftmaxRegression(), config)
    test_x = tf.constant(mnist.test_images)
    test_y = tf.constant(mnist.test_labels.astype(np.int32))
    reached: float | None = None
    elapsed = 0.0  # tracing included, as a user of the job experiences it
    for epoch in range(config.epochs):
        start = time.perf_counter()
        trainer.run_epoch(images, labels, tf.constant(epoch, tf.int64))
        elapsed += time.perf_counter() - start
        accuracy = float(trainer.accuracy(test_x, test_y))
        if reached is None and accuracy >= TARGET_ACCURACY:
            reached = elapsed
        print(f"epoch {epoch + 1:2d}  {elapsed:6.2f} s  test accuracy {accuracy:.4f}")
    return reached


def job_seconds(data_dir: Path) -> float:
    """Wall time of ``python -m training`` with default settings, into a throwaway repository."""
    with tempfile.TemporaryDirectory() as model_dir:
        command = [sys.executable, "-m", "training", "--data-dir", str(data_dir)]
        command += ["--model-dir", model_dir, "--no-progress", "--no-download"]
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("MNIST_DATA_DIR", REPO.parent / "shared" / "mnist")),
        help="directory with the four MNIST files (env MNIST_DATA_DIR)",
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed for each loop (best)")
    parser.add_argument("--skip-job", action="store_true", help="do not time python -m training")
    args = parser.parse_args()

    mnist = load_mnist(args.data_dir)
    train_x, train_y, _, _ = split_validation(mnist.train_images, mnist.train_labels, 5000)
    images, labels = tf.constant(train_x), tf.constant(train_y.astype(np.int32))

    with deterministic_ops():  # the mode python -m training trains in
        fast = compiled_rate(images, labels, args.epochs)
        slow = python_rate(train_x, train_y, args.epochs)
        print(f"compiled epoch loop   {fast:8.0f} steps/s")
        print(f"python loop per step  {slow:8.0f} steps/s")
        print(f"ratio                 {fast / slow:8.1f}x")
        reached = time_to_accuracy(mnist, images, labels)
    when = f"{reached:.2f} s of training" if reached is not None else "not reached"
    print(f"time to {TARGET_ACCURACY:.1%} test accuracy: {when}")
    if not args.skip_job:
        print(f"whole job python -m training: {job_seconds(args.data_dir):.1f} s wall")


if __name__ == "__main__":
    main()
