"""Temperature scaling: make a model's probabilities mean what they say.

A network trained to minimise cross-entropy tends to be over-confident on data it did not see.
Dividing its logits by one number T, fitted on the validation split to minimise the negative
log-likelihood, fixes most of that without changing any answer (argmax is unchanged by T > 0).
The service applies T from ``metadata.json`` to every prediction (``app/runtime/servable.py``).

Numpy only, so that it also runs on a committed model's logits:
``python -m training.calibrate model/mnist-cnn/1 --data-dir ../shared/mnist`` fits T on the
validation split the version was trained without and records it in its ``metadata.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.floating]
ECE_BINS = 15
# Golden-section search over log T: the NLL is smooth and unimodal in it. The service accepts
# T in [0.1, 10] (app/runtime/servable.py); a fit at either end says the model is broken.
LOG_T_RANGE = (math.log(0.1), math.log(10.0))


def softmax(logits: Floats, temperature: float = 1.0) -> npt.NDArray[np.float64]:
    """Row-wise softmax of ``logits / temperature``, in float64."""
    z = np.asarray(logits, np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def negative_log_likelihood(logits: Floats, labels: npt.ArrayLike, temperature: float) -> float:
    """Mean cross-entropy of the labels under ``softmax(logits / temperature)``."""
    z = np.asarray(logits, np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    picked = z[np.arange(len(z)), np.asarray(labels, np.int64)]
    return float(np.mean(log_norm - picked))


def expected_calibration_error(probabilities: Floats, labels: npt.ArrayLike) -> float:
    """ECE: the confidence-weighted gap between confidence and accuracy, over 15 equal bins."""
    confidence = np.max(probabilities, axis=1)
    correct = np.argmax(probabilities, axis=1) == np.asarray(labels)
    bins = np.minimum((confidence * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    total = 0.0
    for index in range(ECE_BINS):
        members = bins == index
        if members.any():
            gap = abs(float(correct[members].mean()) - float(confidence[members].mean()))
            total += members.mean() * gap
    return float(total)


def fit_temperature(logits: Floats, labels: npt.ArrayLike) -> float:
    """The T > 0 minimising the NLL of ``labels`` under ``softmax(logits / T)``."""
    low, high = LOG_T_RANGE
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa = negative_log_likelihood(logits, labels, math.exp(a))
    fb = negative_log_likelihood(logits, labels, math.exp(b))
    for _ in range(60):  # shrinks the bracket by 0.618^60: far below float precision of T
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = negative_log_likelihood(logits, labels, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = negative_log_likelihood(logits, labels, math.exp(b))
    return round(math.exp((low + high) / 2), 6)


@dataclass(frozen=True)
class Calibration:
    """The fitted temperature and what it did on the test set (recorded in metadata.json)."""

    temperature: float
    fitted_on: str
    test_ece_before: float
    test_ece_after: float
    test_nll_before: float
    test_nll_after: float


def calibrate(
    validation_logits: Floats,
    validation_labels: npt.ArrayLike,
    test_logits: Floats,
    test_labels: npt.ArrayLike,
) -> Calibration:
    """Fit T on the validation split; measure ECE and NLL on the test set before and after."""
    temperature = fit_temperature(validation_logits, validation_labels)
    return Calibration(
        temperature=temperature,
        fitted_on=f"{len(validation_logits)} validation images",
        test_ece_before=round(expected_calibration_error(softmax(test_logits), test_labels), 6),
        test_ece_after=round(
            expected_calibration_error(softmax(test_logits, temperature), test_labels), 6
        ),
        test_nll_before=round(negative_log_likelihood(test_logits, test_labels, 1.0), 6),
        test_nll_after=round(negative_log_likelihood(test_logits, test_labels, temperature), 6),
    )


def recalibrate(version_dir: Path, data_dir: Path, *, check_checksums: bool = True) -> Calibration:
    """Fit T for an exported version on its own validation split; rewrite its metadata.json."""
    from training.data import load_mnist, split_validation

    metadata_path = version_dir / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    size = int(metadata["hyperparameters"]["validation_size"])
    if size < 1:
        raise SystemExit(f"{version_dir} was trained without a validation split: nothing to fit")
    mnist = load_mnist(data_dir, check_checksums=check_checksums)
    _, _, val_x, val_y = split_validation(mnist.train_images, mnist.train_labels, size)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    serve = tf.saved_model.load(str(version_dir)).signatures["serving_default"]

    def logits(images: npt.NDArray[np.uint8]) -> Floats:
        return np.asarray(serve(images=tf.constant(images))["logits"].numpy())

    result = calibrate(logits(val_x), val_y, logits(mnist.test_images), mnist.test_labels)
    metadata["calibration"] = asdict(result)
    partial = metadata_path.with_suffix(".json.partial")
    partial.write_text(json.dumps(metadata, indent=2) + "\n")
    partial.replace(metadata_path)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.calibrate",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("versions", nargs="+", type=Path, help="exported version directories")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("MNIST_DATA_DIR", "data/mnist"))
    )
    parser.add_argument(
        "--skip-checksums", action="store_true", help="accept IDX files that are not MNIST's"
    )
    args = parser.parse_args(argv)
    for version_dir in args.versions:
        result = recalibrate(version_dir, args.data_dir, check_checksums=not args.skip_checksums)
        print(f"{version_dir}: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
