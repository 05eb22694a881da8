"""Which augmentation makes the bigger models best on digits that are not MNIST?

Trains the MLP and the CNN with no augmentation, the default ranges and stronger ones, and prints
each run's accuracy on MNIST's test set and on every development source
(``benchmarks.digit_sources``), through the service's normalisation. The defaults in
``training/config.py`` are the row that did best here (docs/training.md has the table).

    .venv/bin/python -m benchmarks.augmentation                    # both models, ~6 min here
    .venv/bin/python -m benchmarks.augmentation --models mlp --settings none default
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.digit_sources import SOURCES
from benchmarks.realworld_eval import default_data_dir
from benchmarks.realworld_models import prepared
from training.config import ARCHITECTURE_DEFAULTS, TrainConfig
from training.data import load_mnist, split_validation

RANGES = ("rotate_degrees", "scale", "shear", "shift_pixels", "thickness")


def settings(model: str) -> dict[str, dict[str, float]]:
    """Augmentation ranges to compare: none, the model's defaults, and half as much again."""
    default = {key: getattr(ARCHITECTURE_DEFAULTS[model], key) for key in RANGES}
    return {
        "none": dict.fromkeys(RANGES, 0.0),
        "default": default,
        "stronger": {key: min(value * 1.5, 1.0) if key == "thickness" else value * 1.5
                     for key, value in default.items()},
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--models", nargs="+", choices=("mlp", "cnn"), default=["mlp", "cnn"])
    parser.add_argument(
        "--settings", nargs="+", choices=("none", "default", "stronger"),
        default=["none", "default", "stronger"],
    )  # fmt: skip
    args = parser.parse_args(argv)

    mnist = load_mnist(args.data_dir)
    train_x, train_y, val_x, val_y = split_validation(mnist.train_images, mnist.train_labels, 5000)
    columns = {source: prepared(SOURCES[source][0]()) for source in SOURCES}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from training.models import build_model
    from training.train import Trainer

    print("| model | augmentation | train s | MNIST test | " + " | ".join(SOURCES) + " |")
    print("| --- | --- | ---: | ---: |" + " ---: |" * len(SOURCES))
    for name in args.models:
        for label, ranges in settings(name).items():
            if label not in args.settings:
                continue
            config = TrainConfig.for_model(name, **ranges)
            model = build_model(name)
            start = time.perf_counter()
            Trainer(model, config, train_examples=len(train_x)).fit(
                train_x, train_y, val_x, val_y, progress=False
            )
            seconds = time.perf_counter() - start
            digits = model.serve(tf.constant(mnist.test_images))["digit"].numpy()
            cells = [f"{100 * np.mean(digits == mnist.test_labels):.2f} %"]
            for inputs, labels, readable in columns.values():
                found = model.serve(tf.constant(inputs))["digit"].numpy()
                cells.append(f"{100 * np.mean((found == labels) & readable):.2f} %")
            print(f"| {name} | {label} | {seconds:.0f} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
