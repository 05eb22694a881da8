"""Hyperparameters of a training run (no TensorFlow here, so the CLI can describe them cheaply)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# The tutorial's plain gradient descent uses 0.5; Adam's rate was picked on the validation split
# (0.002 beat 0.0005, 0.001, 0.003 and 0.005 after 10 epochs).
DEFAULT_LEARNING_RATES = {"sgd": 0.5, "adam": 0.002, "adagrad": 0.1, "rmsprop": 0.001}
OPTIMIZERS = tuple(DEFAULT_LEARNING_RATES)
ARCHITECTURE_NAMES = ("softmax", "mlp", "cnn")
SCHEDULES = ("constant", "cosine")
# The repository folder each architecture is exported to unless --name says otherwise.
DEFAULT_MODEL_NAMES = {"softmax": "mnist", "mlp": "mnist-mlp", "cnn": "mnist-cnn"}


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (recorded in metadata.json)."""

    model: str = "softmax"
    epochs: int = 10
    batch_size: int = 100
    optimizer: str = "adam"
    learning_rate: float | None = None
    schedule: str = "constant"
    # A little weight decay costs nothing in accuracy but pulls the weights of rarely inked border
    # pixels (which Adam otherwise pushes far out) back towards zero: cleaner weight maps.
    l2: float = 5e-5
    seed: int = 0
    # Augmentation (training.augment): how far random copies of the digits may vary.
    rotate_degrees: float = 0.0
    scale: float = 0.0
    shear: float = 0.0
    shift_pixels: float = 0.0
    thickness: float = 0.0

    def __post_init__(self) -> None:
        if self.model not in ARCHITECTURE_NAMES:
            raise ValueError(f"unknown model {self.model!r}; choose one of {ARCHITECTURE_NAMES}")
        if self.optimizer not in DEFAULT_LEARNING_RATES:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError("epochs must be >= 0 and batch size >= 1")

    @classmethod
    def for_model(cls, model: str, **overrides: Any) -> TrainConfig:
        """The defaults of ``model``'s architecture, with ``overrides`` (``None`` keeps one)."""
        if model not in ARCHITECTURE_NAMES:
            raise ValueError(f"unknown model {model!r}; choose one of {ARCHITECTURE_NAMES}")
        chosen = {key: value for key, value in overrides.items() if value is not None}
        return dataclasses.replace(ARCHITECTURE_DEFAULTS[model], **chosen)

    @property
    def effective_learning_rate(self) -> float:
        """The learning rate in force: the explicit one or the optimizer's default."""
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LEARNING_RATES[self.optimizer]


# The bigger models learn from randomly varied copies of the digits. The ranges were chosen by
# accuracy on digits that are not MNIST (benchmarks/realworld_models.py, docs/training.md).
def _augmented(model: str, learning_rate: float, epochs: int) -> TrainConfig:
    return TrainConfig(
        model=model,
        epochs=epochs,
        batch_size=128,
        learning_rate=learning_rate,
        schedule="cosine",
        l2=1e-5,
        rotate_degrees=12.0,
        scale=0.12,
        shear=0.25,
        shift_pixels=2.0,
        thickness=0.5,
    )


ARCHITECTURE_DEFAULTS = {
    "softmax": TrainConfig(),
    "mlp": _augmented("mlp", learning_rate=0.001, epochs=12),
    # The CNN's strided middle stage needs more passes than 12 to read the scans as well as three
    # full-resolution stages did (docs/training.md, "The CNN's shape").
    "cnn": _augmented("cnn", learning_rate=0.002, epochs=20),
}
