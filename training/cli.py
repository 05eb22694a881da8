"""The command line of ``python -m training``: options, defaults and their help texts."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from training.config import DEFAULT_LEARNING_RATES, OPTIMIZERS, TrainConfig
from training.errors import TrainingError
from training.job import run


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface; every option is documented in ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train the MNIST softmax regression y = softmax(xW + b) and export it as a "
        "versioned SavedModel <model-dir>/<name>/<version>/ with metadata.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("MNIST_DATA_DIR", "data/mnist")),
        help="directory with the four MNIST IDX files, gzipped or raw "
        "(env MNIST_DATA_DIR); missing files are downloaded into it",
    )
    data.add_argument(
        "--no-download",
        action="store_true",
        help="fail instead of downloading missing files from the public mirrors",
    )
    data.add_argument(
        "--skip-checksums",
        action="store_true",
        help="accept IDX files whose content is not canonical MNIST (e.g. another dataset "
        "in the same format); their checksums are still recorded in metadata.json",
    )
    data.add_argument(
        "--validation-size",
        type=_non_negative_int,
        default=5000,
        help="training examples held out for validation (the first ones, as the tutorial)",
    )
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=_non_negative_int, default=10, help="passes over data")
    train.add_argument("--batch-size", type=_positive_int, default=100, help="minibatch size")
    train.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="adam",
        help="sgd is the tutorial's plain gradient descent",
    )
    train.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=None,
        help="step size (default depends on the optimizer: "
        + ", ".join(f"{name} {rate}" for name, rate in DEFAULT_LEARNING_RATES.items())
        + ")",
    )
    train.add_argument(
        "--l2",
        type=_non_negative_float,
        default=TrainConfig.l2,
        help="L2 weight decay: adds l2 * sum(W**2) / 2 to the loss",
    )
    train.add_argument("--seed", type=int, default=0, help="seed of the minibatch order")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    export = parser.add_argument_group("export")
    export.add_argument(
        "--model-dir", type=Path, default=Path("model"), help="model repository root"
    )
    export.add_argument("--name", default="mnist", help="model name: <model-dir>/<name>/")
    export.add_argument(
        "--version",
        type=_positive_int,
        default=None,
        help="version to write (default: one more than the newest existing version); "
        "existing versions are never overwritten",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv``, run the job; returns the process exit status."""
    args = build_parser().parse_args(argv)
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        l2=args.l2,
        seed=args.seed,
    )
    try:
        run(
            config,
            data_dir=args.data_dir,
            model_dir=args.model_dir,
            name=args.name,
            version=args.version,
            validation_size=args.validation_size,
            download=not args.no_download,
            check_checksums=not args.skip_checksums,
            progress=not args.no_progress,
        )
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
