"""How far can each model's confidence be trusted? Coverage curves and digit-vs-not-digit AUROC.

For every committed model, with the calibrated probabilities the service serves (the SavedModel's
logits over the temperature in its metadata.json):

- **coverage**: at each ``min_confidence`` threshold, the share of digits answered and the
  accuracy of those answers, on MNIST's test set and on the real-world development set
  (``benchmarks.digit_sources``: fonts, page strokes, 8x8 scans);
- **ECE** (expected calibration error, 15 bins) with and without the temperature, on both;
- **AUROC** of the confidence as a detector of things that are not digits (letters, scribbles,
  shapes drawn on the page's canvas) against the real-world digits: 1.0 separates them perfectly,
  0.5 is a coin.

    .venv/bin/python -m benchmarks.confidence
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.images.normalize import BlankImageError, NormalizeMode, prepare
from benchmarks.digit_sources import NOT_DIGITS, SOURCES
from benchmarks.realworld_eval import default_data_dir, read_images_and_labels
from benchmarks.realworld_models import committed_models, parse_models, prepared
from training import data
from training.calibrate import expected_calibration_error, softmax

THRESHOLDS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
Pixels = npt.NDArray[np.uint8]
Logits = Callable[[Pixels], npt.NDArray[np.float64]]


def logits_function(version_dir: Path) -> tuple[Logits, float]:
    """The SavedModel's logits for uint8 images, and the temperature its metadata records."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    metadata = json.loads((version_dir / "metadata.json").read_text())
    temperature = float((metadata.get("calibration") or {}).get("temperature", 1.0))

    def logits(images: Pixels) -> npt.NDArray[np.float64]:
        return np.asarray(serve(images=tf.constant(images))["logits"].numpy(), np.float64)

    return logits, temperature


def not_digit_inputs() -> Pixels:
    """The 28x28 inputs the service makes of the not-digit pictures (blank ones dropped)."""
    inputs = []
    for build in NOT_DIGITS.values():
        for picture in build():
            try:
                inputs.append(prepare(picture, NormalizeMode.AUTO).pixels)
            except BlankImageError:
                continue
    return np.stack(inputs)


def coverage_row(probabilities: np.ndarray, labels: np.ndarray, readable: np.ndarray) -> str:
    """``answered % / accuracy %`` at each threshold."""
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels) & readable
    cells = []
    for threshold in THRESHOLDS:
        answered = (confidence >= threshold) & readable
        accuracy = correct[answered].mean() if answered.any() else float("nan")
        cells.append(f"{100 * answered.mean():.1f} / {100 * accuracy:.2f}")
    return " | ".join(cells)


def auroc(digit_confidence: np.ndarray, other_confidence: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    truth = np.r_[np.ones(len(digit_confidence)), np.zeros(len(other_confidence))]
    return float(roc_auc_score(truth, np.r_[digit_confidence, other_confidence]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--models", nargs="+", default=None, help="name=version_dir pairs")
    args = parser.parse_args(argv)
    models = parse_models(args.models) if args.models else committed_models()

    test_x, test_y = read_images_and_labels(args.data_dir, data.TEST_IMAGES, data.TEST_LABELS)
    parts = [prepared(SOURCES[source][0]()) for source in SOURCES]
    world_x = np.concatenate([part[0] for part in parts])
    world_y = np.concatenate([part[1] for part in parts])
    world_ok = np.concatenate([part[2] for part in parts])
    others = not_digit_inputs()
    sets = {
        "MNIST test": (test_x, test_y.astype(np.int64), np.ones(len(test_y), bool)),
        "real-world digits": (world_x, world_y, world_ok),
    }
    print(
        f"{len(test_y)} MNIST test digits; {len(world_y)} real-world digits"
        f" ({', '.join(SOURCES)}); {len(others)} things that are not digits"
        f" ({', '.join(NOT_DIGITS)})\n"
    )
    header = " | ".join(f"≥ {threshold:g}" for threshold in THRESHOLDS)
    print("Answered % / accuracy of the answers % at each min_confidence:\n")
    print(f"| model | digits | {header} |")
    print("| --- | --- |" + " ---: |" * len(THRESHOLDS))
    summary: list[tuple[str, float, str, str, float, float]] = []
    for name, path in models.items():
        logits, temperature = logits_function(path)
        eces = []
        for label, (images, labels, readable) in sets.items():
            raw = logits(images)
            served = softmax(raw, temperature)
            print(f"| {name} | {label} | {coverage_row(served, labels, readable)} |", flush=True)
            before = expected_calibration_error(softmax(raw)[readable], labels[readable])
            after = expected_calibration_error(served[readable], labels[readable])
            eces.append(f"{100 * before:.2f} % → {100 * after:.2f} %")
        world = softmax(logits(world_x), temperature).max(axis=1)[world_ok]
        other = softmax(logits(others), temperature).max(axis=1)
        area, median_other = auroc(world, other), float(np.median(other))
        summary.append((name, temperature, eces[0], eces[1], area, median_other))
    print("\n| model | temperature | ECE MNIST test | ECE real-world | AUROC digit vs not |"
          " median confidence on not-digits |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, temperature, ece_test, ece_world, area, median_other in summary:
        print(
            f"| {name} | {temperature:.3f} | {ece_test} | {ece_world} | {area:.3f}"
            f" | {median_other:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
