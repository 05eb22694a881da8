"""The command line of ``python -m training``: options, defaults and their help texts."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from training.config import (
    ARCHITECTURE_DEFAULTS,
    ARCHITECTURE_NAMES,
    DEFAULT_LEARNING_RATES,
    DEFAULT_MODEL_NAMES,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
)
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


def _per_model(field: str) -> str:
    """The default of a hyperparameter for each architecture, for ``--help``."""
    values = {name: getattr(config, field) for name, config in ARCHITECTURE_DEFAULTS.items()}
    if field == "learning_rate":
        values = {
            name: config.effective_learning_rate for name, config in ARCHITECTURE_DEFAULTS.items()
        }
    return "default: " + ", ".join(
        f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
        for name, value in values.items()
    )


# --flag, the TrainConfig field it sets, its unit, what it means.
AUGMENTATION_OPTIONS = (
    ("--rotate", "rotate_degrees", "DEGREES", "largest rotation"),
    ("--scale", "scale", "FRACTION", "largest relative change of size"),
    ("--shear", "shear", "FACTOR", "largest slant (horizontal shear factor)"),
    ("--shift", "shift_pixels", "PIXELS", "largest shift"),
    ("--thickness", "thickness", "CHANCE", "chance that a digit's strokes get 1 px more or less"),
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except "None": those options say their per-model defaults themselves."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface; every option is documented in ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train a digit classifier on MNIST (the tutorial's softmax regression "
        "y = softmax(xW + b), a multilayer perceptron or a small CNN) and export it as a "
        "versioned SavedModel <model-dir>/<name>/<version>/ with metadata.json. "
        "Hyperparameters left out take the chosen model's defaults.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--model",
        choices=ARCHITECTURE_NAMES,
        default="softmax",
        help="architecture: softmax (the tutorial's, weight maps), mlp (784-256-128-10) or "
        "cnn (three 3x3 conv layers); exported as "
        + ", ".join(f"{model} -> {name}" for model, name in DEFAULT_MODEL_NAMES.items()),
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
    train.add_argument(
        "--epochs",
        type=_non_negative_int,
        default=None,
        help="passes over the data; " + _per_model("epochs"),
    )
    train.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="minibatch size; " + _per_model("batch_size"),
    )
    train.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=None,
        help="sgd is the tutorial's plain gradient descent; " + _per_model("optimizer"),
    )
    train.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=None,
        help="step size (without --model's own, the optimizer's: "
        + ", ".join(f"{name} {rate}" for name, rate in DEFAULT_LEARNING_RATES.items())
        + "); "
        + _per_model("learning_rate"),
    )
    train.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=None,
        help="learning rate over the run: constant, or cosine annealing to 0; "
        + _per_model("schedule"),
    )
    train.add_argument(
        "--l2",
        type=_non_negative_float,
        default=None,
        help="L2 weight decay on the kernels: adds l2 * sum(W**2) / 2 to the loss; "
        + _per_model("l2"),
    )
    augment = parser.add_argument_group(
        "augmentation", "random variations of the training digits, drawn per minibatch"
    )
    for flag, field, unit, meaning in AUGMENTATION_OPTIONS:
        augment.add_argument(
            flag,
            type=_non_negative_float,
            default=None,
            dest=field,
            metavar=unit,
            help=f"{meaning}; {_per_model(field)}",
        )
    train.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initial weights, the minibatch order and the augmentation",
    )
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    export = parser.add_argument_group("export")
    export.add_argument(
        "--model-dir", type=Path, default=Path("model"), help="model repository root"
    )
    export.add_argument(
        "--name",
        default=None,
        help="model name: <model-dir>/<name>/ (default: the --model's name, see --model)",
    )
    export.add_argument(
        "--version",
        type=_positive_int,
        default=None,
        help="version to write (default: one more than the newest existing version); "
        "existing versions are never overwritten",
    )
    return parser


def config_from(args: argparse.Namespace) -> TrainConfig:
    """The run's hyperparameters: the chosen model's defaults, with the options given."""
    config = TrainConfig.for_model(
        args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        schedule=args.schedule,
        l2=args.l2,
        seed=args.seed,
        rotate_degrees=args.rotate_degrees,
        scale=args.scale,
        shear=args.shear,
        shift_pixels=args.shift_pixels,
        thickness=args.thickness,
    )
    if args.optimizer is not None and args.learning_rate is None:
        # An optimizer chosen by hand keeps its own default rate, not the model's Adam rate.
        config = dataclasses.replace(config, learning_rate=None)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv``, run the job; returns the process exit status."""
    args = build_parser().parse_args(argv)
    config = config_from(args)
    try:
        run(
            config,
            data_dir=args.data_dir,
            model_dir=args.model_dir,
            name=args.name or DEFAULT_MODEL_NAMES[args.model],
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
