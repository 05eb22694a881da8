"""Hyperparameters of a training run (no TensorFlow here, so the CLI can describe them cheaply)."""

from __future__ import annotations

from dataclasses import dataclass

# The tutorial's plain gradient descent uses 0.5; Adam's rate was picked on the validation split
# (0.002 beat 0.0005, 0.001, 0.003 and 0.005 after 10 epochs).
DEFAULT_LEARNING_RATES = {"sgd": 0.5, "adam": 0.002, "adagrad": 0.1, "rmsprop": 0.001}
OPTIMIZERS = tuple(DEFAULT_LEARNING_RATES)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (recorded in metadata.json)."""

    epochs: int = 10
    batch_size: int = 100
    optimizer: str = "adam"
    learning_rate: float | None = None
    # A little weight decay costs nothing in accuracy but pulls the weights of rarely inked border
    # pixels (which Adam otherwise pushes far out) back towards zero: cleaner weight maps.
    l2: float = 5e-5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in DEFAULT_LEARNING_RATES:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError("epochs must be >= 0 and batch size >= 1")

    @property
    def effective_learning_rate(self) -> float:
        """The learning rate in force: the explicit one or the optimizer's default."""
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LEARNING_RATES[self.optimizer]
