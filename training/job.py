"""The training job, top to bottom: data -> model -> train -> evaluate -> export.

TensorFlow is imported only once the data is on disk and valid, so that a missing or wrong file
is reported at once instead of after TensorFlow's ~10 s import.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.config import DEFAULT_MODEL_NAMES, TrainConfig
from training.data import Mnist, describe, load_mnist, split_validation
from training.download import ensure_data


def run(
    config: TrainConfig,
    *,
    data_dir: Path,
    model_dir: Path,
    name: str | None = None,
    version: int | None = None,
    validation_size: int = 5000,
    download: bool = True,
    check_checksums: bool = True,
    progress: bool = True,
) -> Path:
    """Train ``config.model``'s architecture on the MNIST files in ``data_dir`` and export it.

    Returns the new version directory ``model_dir/name/version``; ``name`` defaults to the
    architecture's repository name (``mnist``, ``mnist-mlp``, ``mnist-cnn``).
    """
    name = name or DEFAULT_MODEL_NAMES[config.model]
    started = time.perf_counter()
    ensure_data(data_dir, download=download)
    mnist = load_mnist(data_dir, check_checksums=check_checksums)
    train_x, train_y, val_x, val_y = split_validation(
        mnist.train_images, mnist.train_labels, validation_size
    )
    print(f"MNIST from {data_dir}")
    print(describe("train", train_x, train_y))
    print(describe("validation", val_x, val_y))
    print(describe("test", mnist.test_images, mnist.test_labels))

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ start-up chatter out
    import tensorflow as tf

    from training.calibrate import calibrate
    from training.evaluate import Evaluation, evaluate_logits, logits_of, report
    from training.export import export_model
    from training.models import build_model
    from training.train import History, Trainer

    model = build_model(config.model, seed=config.seed)
    print(f"model: {model.description}, {model.parameter_count():,} parameters")
    trainer = Trainer(model, config, train_examples=len(train_x))
    history: History = trainer.fit(train_x, train_y, val_x, val_y, progress=progress)
    print(
        f"trained {history.steps} steps in {history.seconds:.2f} s "
        f"({history.steps / max(history.seconds, 1e-9):.0f} steps/s)"
    )
    # One pass over the test set serves both the evaluation and the calibration's figures.
    test_logits = logits_of(model, mnist.test_images)
    evaluation: Evaluation = evaluate_logits(test_logits, mnist.test_labels)
    print(report(evaluation))
    calibration = None
    if len(val_x):
        fitted = calibrate(logits_of(model, val_x), val_y, test_logits, mnist.test_labels)
        calibration = asdict(fitted)
        print(
            f"calibration: temperature {fitted.temperature:.3f} (fitted on the validation split);"
            f" test ECE {fitted.test_ece_before:.2%} -> {fitted.test_ece_after:.2%}"
        )

    metadata = {
        "architecture": config.model,
        "description": model.description,
        "parameters": model.parameter_count(),
        "test_accuracy": evaluation.accuracy,
        "per_class_accuracy": evaluation.per_class_accuracy,
        "calibration": calibration,
        "confusion_matrix": evaluation.confusion_matrix,
        "hyperparameters": hyperparameters(config, validation_size),
        "data_checksums": mnist.checksums,
        "tensorflow_version": tf.__version__,
        "training_seconds": round(history.seconds, 3),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **example_counts(mnist, len(train_x), len(val_x)),
        "validation_accuracy": (
            history.validation_accuracy[-1] if history.validation_accuracy else None
        ),
    }
    target = export_model(model, model_dir, name, metadata, version=version)
    print(f"exported {target} in {time.perf_counter() - started:.1f} s from the start of the job")
    return target


def hyperparameters(config: TrainConfig, validation_size: int) -> dict[str, Any]:
    """The settings that reproduce a run, with the learning rate actually used."""
    return {
        **asdict(config),
        "learning_rate": config.effective_learning_rate,
        "validation_size": validation_size,
    }


def example_counts(mnist: Mnist, train: int, validation: int) -> dict[str, int]:
    """How many examples each split had."""
    return {
        "train_examples": train,
        "validation_examples": validation,
        "test_examples": len(mnist.test_labels),
    }
