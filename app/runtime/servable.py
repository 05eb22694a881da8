"""A servable: one model version, compiled, verified and warmed up, ready to answer.

It is built from a compiled artifact (:mod:`app.runtime.compiler`, or a hit in
:mod:`app.runtime.cache`) without TensorFlow: the flatbuffer runs with LiteRT, and is checked
against TensorFlow's answers on the probe batch before anything is served. Any architecture
that follows the serving contract (:mod:`app.contract`) is served; weight maps exist only for
models that export a linear layer on the pixels.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from app.contract import IMAGE_SIZE, INPUT, NUM_CLASSES, REQUIRED_OUTPUTS, Pixels, Probabilities
from app.runtime.litert import CompiledModel, check_agreement, probe_images


class ModelLoadError(Exception):
    """A model version cannot be served; the message is one sentence for the operator."""


@dataclass(frozen=True)
class TensorSpec:
    """dtype and shape of one signature tensor; ``None`` marks the batch dimension."""

    dtype: str
    shape: tuple[int | None, ...]


@dataclass(frozen=True)
class Predictions:
    """Model outputs for a batch of N images."""

    probabilities: Probabilities  # [N, 10], rows sum to 1
    digits: npt.NDArray[np.int64]  # [N]


class InferenceModel(Protocol):
    """What a servable runs: a compiled model (:class:`CompiledModel`, or a stand-in in tests)."""

    def predict(self, pixels: Pixels) -> Probabilities: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class LinearWeights:
    """``W`` [784, 10] and ``b`` [10] of a model whose first layer is linear on the pixels."""

    W: npt.NDArray[np.float32]
    b: npt.NDArray[np.float32]


class Servable:
    """One loaded version of a model: ``predict()`` from any thread until ``close()``."""

    def __init__(
        self,
        *,
        name: str,
        version: int,
        path: Path,
        model: InferenceModel,
        inputs: dict[str, TensorSpec],
        outputs: dict[str, TensorSpec],
        signature_names: list[str],
        metadata: dict[str, Any],
        weights: LinearWeights | None,
        batchable: bool = False,
    ) -> None:
        self.name = name
        self.version = version
        self.path = path
        self.inputs = inputs
        self.outputs = outputs
        self.signature_names = signature_names
        self.metadata = metadata
        self.weights = weights
        self.temperature = calibrated_temperature(metadata, path)
        self.batchable = batchable  # its model runs batches of any size (occlusion needs them)
        self._model = model

    def probabilities(self, images: Pixels) -> Probabilities:
        """``float32 [N, 10]`` for ``uint8 [N, 28, 28]`` images: the micro-batcher's function.

        Calibrated: with a temperature T in the version's metadata, ``softmax(logits / T)``.
        """
        probabilities = self._model.predict(images)
        if self.temperature == 1.0:
            return probabilities
        return rescale(probabilities, self.temperature)

    def predict(self, images: Pixels) -> Predictions:
        """Probabilities and digits for ``uint8 [N, 28, 28]`` images (0 = background)."""
        probabilities = self.probabilities(images)
        return Predictions(probabilities=probabilities, digits=probabilities.argmax(axis=1))

    def close(self) -> None:
        """Free the interpreters (called once no request uses this version any more)."""
        self._model.close()


def bind_artifact(name: str, version: int, path: Path, artifact: bytes) -> Servable:
    """Build, check and warm up the servable for one version from its compiled artifact."""
    metadata = read_metadata(path / "metadata.json")
    try:
        # From bytes (read once, by the cache's checks or the loader): on a damaged file
        # np.load(path) would also leave its own handle open.
        with np.load(io.BytesIO(artifact)) as files:
            arrays = {key: files[key] for key in files.files}
        description = json.loads(str(arrays["description"]))
    except Exception as exc:  # a damaged artifact: numpy and zipfile raise many types
        raise ModelLoadError(f"the compiled artifact of {path} is unreadable: {exc}") from exc
    inputs = {key: _spec(spec) for key, spec in description["inputs"].items()}
    outputs = {key: _spec(spec) for key, spec in description["outputs"].items()}
    expected_input = TensorSpec("uint8", (None, IMAGE_SIZE, IMAGE_SIZE))
    missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
    if inputs != {INPUT: expected_input} or missing or "flatbuffer" not in arrays:
        found = ", ".join(description["names"]) or "none"
        raise ModelLoadError(
            f"the model at {path} does not follow the serving contract: serving_default must"
            f" take images uint8 [N, 28, 28] and give probabilities and digit (signatures: {found})"
        )
    try:
        model = CompiledModel(arrays["flatbuffer"].tobytes())
    except Exception as exc:
        raise ModelLoadError(f"LiteRT refuses the compiled model of {path}: {exc}") from exc
    disagreement = check_agreement(model.predict(probe_images()), arrays["probe_expected"])
    if disagreement is not None:
        raise ModelLoadError(
            f"the compiled model of {path} disagrees with TensorFlow: {disagreement}"
        )
    servable = Servable(
        name=name,
        version=version,
        path=path,
        model=model,
        inputs=inputs,
        outputs=outputs,
        signature_names=description["names"],
        metadata=metadata,
        weights=_linear_weights(arrays),
        batchable=model.dynamic_batch,
    )
    _warm_up(servable)
    return servable


def _linear_weights(arrays: dict[str, Any]) -> LinearWeights | None:
    if "weights" not in arrays or "bias" not in arrays:
        return None
    weights = arrays["weights"].astype(np.float32)
    bias = arrays["bias"].astype(np.float32)
    if weights.shape != (IMAGE_SIZE * IMAGE_SIZE, NUM_CLASSES) or bias.shape != (NUM_CLASSES,):
        return None  # some other parameters: no weight maps to draw
    weights.setflags(write=False)
    bias.setflags(write=False)
    return LinearWeights(weights, bias)


def _warm_up(servable: Servable) -> None:
    # The first call allocates; do it before the version is declared available.
    result = servable.predict(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE), np.uint8))
    total = float(result.probabilities.sum())
    if result.probabilities.shape != (1, NUM_CLASSES) or not abs(total - 1.0) < 1e-3:
        raise ModelLoadError(
            f"the model at {servable.path} answered the warm-up prediction with"
            f" probabilities of shape {result.probabilities.shape} summing to {total}"
        )


def calibrated_temperature(metadata: dict[str, Any], path: Path) -> float:
    """The temperature training fitted (``calibration.temperature``), 1.0 if there is none."""
    calibration = metadata.get("calibration")
    if calibration is None:
        return 1.0
    temperature = calibration.get("temperature") if isinstance(calibration, dict) else None
    if (
        not isinstance(temperature, int | float)
        or isinstance(temperature, bool)
        or not 0.1 <= temperature <= 10
    ):
        raise ModelLoadError(
            f"{path / 'metadata.json'}: calibration.temperature must be a number in"
            f" [0.1, 10], got {temperature!r}"
        )
    return float(temperature)


def rescale(probabilities: Probabilities, temperature: float) -> Probabilities:
    """``softmax(logits / T)`` from ``p = softmax(logits)``, as ``p ** (1 / T)`` normalised.

    ``log p`` differs from the logits by a per-row constant, which the softmax cancels. With T
    in [0.1, 10] the most probable digit's ``p >= 0.1`` keeps ``p ** (1 / T) >= 1e-10``, so a
    row never sums to zero in float32; the power form is ~4x cheaper than log, exp and a max.
    """
    scaled = probabilities ** np.float32(1.0 / temperature)
    scaled /= np.add.reduce(scaled, axis=1, keepdims=True)  # sum()'s own reduction, called direct
    return scaled


def read_metadata(path: Path) -> dict[str, Any]:
    """``metadata.json`` beside the SavedModel (training writes it); ``{}`` if there is none."""
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}  # a SavedModel exported by other tools is still servable
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
