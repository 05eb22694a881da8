"""A stand-in loader for the repository tests: no TensorFlow, versions load in microseconds.

A version folder holds a ``saved_model.pb`` whose text says how it behaves: ``ok`` loads a model
that answers digit ``version % 10`` with certainty, ``broken`` fails with that reason.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.contract import Pixels, Probabilities
from app.runtime.cache import Lookup
from app.runtime.loader import LoadOutcome, LoadRequest
from app.runtime.servable import Servable


class OneHotModel:
    """Answers one digit for every image, and records being closed."""

    def __init__(self, digit: int) -> None:
        self.digit = digit
        self.closed = False

    def predict(self, pixels: Pixels) -> Probabilities:
        if self.closed:
            raise RuntimeError("the model was unloaded")
        out = np.zeros((len(pixels), 10), np.float32)
        out[:, self.digit] = 1.0
        return out

    def close(self) -> None:
        self.closed = True


class FakeLoader:
    """Loads folders written by :func:`write_version`; counts its calls."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, int]]] = []
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def load(self, requests: Sequence[LoadRequest]) -> list[LoadOutcome]:
        self.calls.append([(r.name, r.version) for r in requests])
        outcomes = []
        for request in requests:
            try:
                text = (request.path / "saved_model.pb").read_text()
            except OSError as exc:
                text = f"broken: {exc}"
            if text.startswith("broken"):
                outcome = LoadOutcome(request, None, text, Lookup.MISS, 0.001)
            else:
                model = OneHotModel(request.version % 10)
                servable = Servable(
                    name=request.name,
                    version=request.version,
                    path=request.path,
                    model=model,
                    inputs={},
                    outputs={},
                    signature_names=["serving_default"],
                    metadata={"written": text},
                    weights=None,
                )
                outcome = LoadOutcome(request, servable, None, Lookup.HIT, 0.001)
            outcomes.append(outcome)
        return outcomes


def write_version(root: Path, model: str, version: int, text: str = "ok") -> Path:
    folder = root / model / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "saved_model.pb").write_text(text)
    return folder


def remove_version(root: Path, model: str, version: int) -> None:
    shutil.rmtree(root / model / str(version))
