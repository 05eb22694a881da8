"""Accuracy of every model on digits that are not MNIST, per source, beside MNIST's test set.

The sources (``benchmarks.digit_sources`` and ``benchmarks.cropped_scans``) are built here:
handwriting-style fonts and strokes drawn with the page's pen on a 280x280 canvas, and real 8x8
scans of other people's handwriting, with a margin and cropped close as they are stored.
Each upload goes through the service's own normalisation (``normalize=auto``), then through each
model's SavedModel, so the table shows what a user of the service meets.

    .venv/bin/python -m benchmarks.realworld_models                       # the committed models
    .venv/bin/python -m benchmarks.realworld_models --models mnist=model/mnist/1 cnn=/tmp/cnn/1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.images.normalize import BlankImageError, NormalizeMode, prepare
from benchmarks.cropped_scans import CROPPED_SCANS
from benchmarks.digit_sources import SOURCES as DIGIT_SOURCES
from benchmarks.digit_sources import Sample
from benchmarks.realworld_eval import REPO, default_data_dir, read_images_and_labels, saved_model
from training import data
from training.config import DEFAULT_MODEL_NAMES

Pixels = npt.NDArray[np.uint8]
SOURCES = {**DIGIT_SOURCES, **CROPPED_SCANS}


def newest_version(name: str) -> Path | None:
    """``model/<name>/<newest version>``, or ``None`` if the model has no version."""
    folder = REPO / "model" / name
    versions = (
        [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []
    )
    return folder / str(max(versions)) if versions else None


def committed_models() -> dict[str, Path]:
    """The newest version of each default model name that exists here."""
    found = {name: newest_version(name) for name in DEFAULT_MODEL_NAMES.values()}
    return {name: path for name, path in found.items() if path is not None}


def prepared(samples: list[Sample]) -> tuple[Pixels, npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The 28x28 inputs the service would feed its model, the labels, and which had ink."""
    inputs = np.zeros((len(samples), 28, 28), np.uint8)
    readable = np.ones(len(samples), bool)
    for i, (picture, _) in enumerate(samples):
        try:
            inputs[i] = prepare(picture, NormalizeMode.AUTO).pixels
        except BlankImageError:
            readable[i] = False  # counted as a wrong answer: the user got none
    labels = np.array([label for _, label in samples], np.int64)
    return inputs, labels, readable


def parse_models(pairs: list[str]) -> dict[str, Path]:
    """``name=path`` pairs from the command line."""
    models = {}
    for pair in pairs:
        name, _, path = pair.partition("=")
        if not path:
            raise SystemExit(f"--models takes name=path pairs, got {pair!r}")
        models[name] = Path(path)
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--models", nargs="+", default=None, help="name=version_dir pairs")
    parser.add_argument("--sources", nargs="+", choices=sorted(SOURCES), default=list(SOURCES))
    args = parser.parse_args(argv)
    models = parse_models(args.models) if args.models else committed_models()

    test_images, test_labels = read_images_and_labels(
        args.data_dir, data.TEST_IMAGES, data.TEST_LABELS
    )
    columns: dict[str, tuple[Pixels, npt.NDArray[np.int64], npt.NDArray[np.bool_]]] = {
        "MNIST test": (test_images, test_labels.astype(np.int64), np.ones(len(test_labels), bool))
    }
    for source in args.sources:
        start = time.perf_counter()
        samples = SOURCES[source][0]()
        columns[source] = prepared(samples)
        print(
            f"{source}: {len(samples)} digits, {SOURCES[source][1]}"
            f" ({time.perf_counter() - start:.1f} s to build and normalise)",
            flush=True,
        )
    print()
    print("| model | " + " | ".join(columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    refused = [f"{100 * (1 - readable.mean()):.2f} %" for _, _, readable in columns.values()]
    print("| refused as no_ink | " + " | ".join(refused) + " |", flush=True)
    for name, path in models.items():
        classify = saved_model(path)
        cells = []
        for inputs, labels, readable in columns.values():
            correct = (classify(inputs) == labels) & readable
            cells.append(f"{100 * correct.mean():.2f} %")
        print(f"| {name} ({path.name}) | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
