"""Small MNIST-shaped IDX files written by the tests themselves (no real data, no network)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

from training.data import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
)


def idx_bytes(array: npt.NDArray[np.uint8], magic: int) -> bytes:
    """``array`` in IDX format: the magic number, one uint32 per dimension, then the bytes."""
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, content: bytes, *, gz: bool) -> Path:
    """Write ``content`` to ``path``, or gzipped to ``path``.gz when ``gz``; returns the file."""
    target = path.with_name(path.name + ".gz") if gz else path
    target.write_bytes(gzip.compress(content) if gz else content)
    return target


def digits(count: int, seed: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Linearly separable stand-ins for digits: class d is a bright band at rows 2d+2..2d+4."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(count) % 10).astype(np.uint8)
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(count, 28, 28), dtype=np.uint8)
    for image, label in zip(images, labels, strict=True):
        image[2 * label + 2 : 2 * label + 5, 4:24] = 255
    return images, labels


def write_dataset(data_dir: Path, *, train: int = 600, test: int = 200, gz: bool = True) -> Path:
    """The four files of a small separable dataset in ``data_dir``; returns ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    train_x, train_y = digits(train, seed=1)
    test_x, test_y = digits(test, seed=2)
    for stem, array, magic in (
        (TRAIN_IMAGES, train_x, IMAGES_MAGIC),
        (TRAIN_LABELS, train_y, LABELS_MAGIC),
        (TEST_IMAGES, test_x, IMAGES_MAGIC),
        (TEST_LABELS, test_y, LABELS_MAGIC),
    ):
        write_idx(data_dir / stem, idx_bytes(array, magic), gz=gz)
    return data_dir
