"""The model runtime: finds, loads, checks and warms up the SavedModel, then answers predictions.

The SavedModel is loaded by TensorFlow in a short-lived child process (``app.runtime.compiler``),
which compiles its serving signature to TFLite and checks it against TensorFlow. This process
runs the compiled model with LiteRT: ~5 µs per call instead of 0.3-7 ms, and ~460 MB less memory
since TensorFlow is never imported here.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.config import Settings
from app.runtime.compiler import CompiledSavedModel, compile_saved_model
from app.runtime.litert import CompilationError, CompiledModel

logger = logging.getLogger("app.runtime.servable")

IMAGE_SIZE = 28
NUM_CLASSES = 10
SERVING_SIGNATURE = "serving_default"
WEIGHTS_SIGNATURE = "weights"
_REQUIRED_OUTPUTS = ("probabilities", "digit")

Images = npt.NDArray[np.uint8]


class ModelLoadError(Exception):
    """The model cannot be served; the message is one sentence for the operator."""


@dataclass(frozen=True)
class Predictions:
    """Model outputs for a batch of N images."""

    probabilities: npt.NDArray[np.float32]  # [N, 10], rows sum to 1
    digits: npt.NDArray[np.int64]  # [N]


@dataclass(frozen=True)
class TensorSpec:
    """dtype and shape of one signature tensor; ``None`` marks the batch dimension."""

    dtype: str
    shape: tuple[int | None, ...]


def find_version(model_path: Path, version: int | None = None) -> int:
    """The pinned ``version`` if it exists, otherwise the newest complete version."""
    if not model_path.is_dir():
        raise ModelLoadError(
            f"no model at {model_path}: expected versions in {model_path}/<version>/saved_model.pb"
        )
    available = sorted(
        int(entry.name)
        for entry in model_path.iterdir()
        if entry.name.isdigit() and int(entry.name) > 0 and (entry / "saved_model.pb").is_file()
    )
    if version is not None:
        if version not in available:
            listed = ", ".join(map(str, available)) or "none"
            raise ModelLoadError(
                f"version {version} of the model at {model_path} does not exist"
                f" (versions with a saved_model.pb: {listed})"
            )
        return version
    if not available:
        raise ModelLoadError(
            f"no model versions in {model_path}: expected {model_path}/<version>/saved_model.pb"
        )
    return available[-1]


class ModelRuntime:
    """One loaded model version: ``load()`` once, then ``predict()`` from any thread."""

    def __init__(self, model_path: Path, name: str, version: int | None = None) -> None:
        self.model_path = model_path
        self.name = name
        self.requested_version = version
        self.version = 0
        self.metadata: dict[str, Any] = {}
        self.inputs: dict[str, TensorSpec] = {}
        self.outputs: dict[str, TensorSpec] = {}
        self.weights: npt.NDArray[np.float32] = np.zeros((0, NUM_CLASSES), np.float32)
        self.bias: npt.NDArray[np.float32] = np.zeros(NUM_CLASSES, np.float32)
        self._model: CompiledModel | None = None
        self._ready = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelRuntime:
        """A runtime for the model the settings name (not loaded yet)."""
        return cls(settings.model_path, settings.model_name, settings.model_version)

    @property
    def ready(self) -> bool:
        """True once the model is loaded and has answered a warm-up prediction."""
        return self._ready

    @property
    def path(self) -> Path:
        """The folder of the loaded version."""
        return self.model_path / str(self.version)

    def load(self) -> None:
        """Load, check against the serving contract and warm up; raises :class:`ModelLoadError`."""
        started = time.perf_counter()
        self.version = find_version(self.model_path, self.requested_version)
        self.metadata = _read_metadata(self.path / "metadata.json")
        try:
            compiled = compile_saved_model(self.path)
        except CompilationError as exc:
            raise ModelLoadError(f"the model at {self.path} is corrupt: {exc}") from exc
        self._bind(compiled)
        self._warm_up()
        self._ready = True
        logger.info(
            "model loaded",
            extra={
                "model": self.name,
                "version": self.version,
                "path": str(self.path),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )

    def predict(self, images: Images) -> Predictions:
        """Probabilities and digits for ``uint8 [N, 28, 28]`` images (0 = background)."""
        if images.dtype != np.uint8 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(
                f"expected uint8 [N, 28, 28] images, got {images.dtype} {images.shape}"
            )
        probabilities = self.probabilities(images)
        # The graph's own digit output is argmax(logits), the same as argmax(probabilities).
        return Predictions(probabilities=probabilities, digits=probabilities.argmax(axis=1))

    def probabilities(self, images: Images) -> npt.NDArray[np.float32]:
        """Just the ``float32 [N, 10]`` probabilities: the micro-batcher's model function."""
        if self._model is None:
            raise RuntimeError("the model is not loaded")
        return self._model.predict(images)

    def _bind(self, compiled: CompiledSavedModel) -> None:
        for required in (SERVING_SIGNATURE, WEIGHTS_SIGNATURE):
            if required not in compiled.signature_names:
                raise ModelLoadError(
                    f"the model at {self.path} has no {required!r} signature"
                    f" (it has: {', '.join(compiled.signature_names) or 'none'})"
                )
        self.inputs = {name: _spec(spec) for name, spec in compiled.inputs.items()}
        self.outputs = {name: _spec(spec) for name, spec in compiled.outputs.items()}
        expected_input = TensorSpec("uint8", (None, IMAGE_SIZE, IMAGE_SIZE))
        missing = [name for name in _REQUIRED_OUTPUTS if name not in self.outputs]
        if self.inputs != {"images": expected_input} or missing or compiled.model is None:
            raise ModelLoadError(
                f"the model at {self.path} does not follow the serving contract:"
                f" expects images uint8 [N, 28, 28] -> probabilities, digit"
            )
        empty = np.zeros(0, np.float32)
        self.weights = compiled.weights if compiled.weights is not None else empty
        self.bias = compiled.bias if compiled.bias is not None else empty
        if self.weights.shape != (IMAGE_SIZE * IMAGE_SIZE, NUM_CLASSES) or self.bias.shape != (
            NUM_CLASSES,
        ):
            raise ModelLoadError(
                f"the model at {self.path} has weights of shape {self.weights.shape}"
                f" and {self.bias.shape}; expected (784, 10) and (10,)"
            )
        self.weights.setflags(write=False)
        self.bias.setflags(write=False)
        self._model = compiled.model

    def _warm_up(self) -> None:
        # The first call traces and allocates; do it before declaring readiness.
        result = self.predict(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE), np.uint8))
        total = float(result.probabilities.sum())
        if result.probabilities.shape != (1, NUM_CLASSES) or not abs(total - 1.0) < 1e-3:
            raise ModelLoadError(
                f"the model at {self.path} answered the warm-up prediction with"
                f" probabilities of shape {result.probabilities.shape} summing to {total}"
            )


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{path} is missing: training writes it beside the model") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is unreadable: {_first_line(exc)}") from exc
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{path} must hold a JSON object")
    return metadata


def _spec(spec: dict[str, Any]) -> TensorSpec:
    return TensorSpec(dtype=spec["dtype"], shape=tuple(spec["shape"]))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
