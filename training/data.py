"""MNIST on disk: the four IDX files, read, validated and checksummed (numpy only, no TensorFlow).

IDX is LeCun's big-endian format: two zero bytes, a type code (0x08 = unsigned byte), the number
of dimensions, one uint32 per dimension, then the data. Files may be gzipped (``*.gz``) or raw;
checksums are always taken over the *uncompressed* bytes, because gzip wrappers differ between
mirrors while the content is canonical.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from training.errors import ChecksumError, DataError, MissingDataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
_UBYTE = 0x08
_GZIP_SIGNATURE = b"\x1f\x8b"

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

# SHA-256 of the uncompressed canonical files (their MD5s match the ones LeCun published).
SHA256 = {
    TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

Images = npt.NDArray[np.uint8]
Labels = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class IdxFile:
    """One parsed IDX file: its array and the SHA-256 of its uncompressed bytes."""

    array: npt.NDArray[np.uint8]
    sha256: str


@dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays (uint8, MNIST polarity) and the checksums of their files."""

    train_images: Images
    train_labels: Labels
    test_images: Images
    test_labels: Labels
    checksums: dict[str, str]


def find_file(data_dir: Path, stem: str) -> Path | None:
    """The gzipped or raw copy of ``stem`` in ``data_dir`` (gzipped preferred), or None."""
    for candidate in (data_dir / f"{stem}.gz", data_dir / stem):
        if candidate.is_file():
            return candidate
    return None


def missing_files(data_dir: Path) -> list[str]:
    """The canonical file names of which neither a gzipped nor a raw copy is in ``data_dir``."""
    return [stem for stem in FILES if find_file(data_dir, stem) is None]


def read_bytes(path: Path) -> bytes:
    """The uncompressed content of ``path``, gunzipped if it starts with the gzip signature."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if not raw.startswith(_GZIP_SIGNATURE):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a valid gzip file ({exc})") from exc


def parse_idx(content: bytes, expected_magic: int, source: str) -> npt.NDArray[np.uint8]:
    """Parse IDX ``content`` of unsigned bytes, checking the magic number and the data length."""
    if len(content) < 4:
        raise DataError(f"{source}: too short for an IDX header ({len(content)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", content[:4])
    magic = (dtype_code << 8) | ndim
    if zero != 0 or magic != expected_magic:
        found = struct.unpack(">I", content[:4])[0]
        raise DataError(
            f"{source}: wrong magic number {found} (expected {expected_magic}); "
            "is this the right file, or a corrupt one?"
        )
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise DataError(f"{source}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", content[4:header_size])
    expected_size = header_size + int(np.prod(dims, dtype=np.int64))
    if len(content) != expected_size:
        what = "truncated" if len(content) < expected_size else "has trailing bytes"
        raise DataError(
            f"{source}: {what}: header announces {'x'.join(map(str, dims))} "
            f"({expected_size} bytes with the header) but the file has {len(content)} bytes"
        )
    data = np.frombuffer(content, dtype=np.uint8, offset=header_size)
    return data.reshape(dims)


def read_idx(path: Path, expected_magic: int) -> IdxFile:
    """Read and parse one IDX file (gzipped or raw) and checksum its uncompressed content."""
    content = read_bytes(path)
    array = parse_idx(content, expected_magic, str(path))
    return IdxFile(array=array, sha256=hashlib.sha256(content).hexdigest())


def _read_pair(data_dir: Path, images_stem: str, labels_stem: str) -> tuple[IdxFile, IdxFile]:
    images_path = find_file(data_dir, images_stem)
    labels_path = find_file(data_dir, labels_stem)
    if images_path is None or labels_path is None:
        raise MissingDataError(missing_message(data_dir, missing_files(data_dir)))
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.array.ndim != 3 or images.array.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{images_path}: images are {images.array.shape[1:]}, expected 28x28")
    if labels.array.ndim != 1:
        raise DataError(f"{labels_path}: labels must be one-dimensional")
    if len(images.array) != len(labels.array):
        raise DataError(
            f"count mismatch: {images_path} holds {len(images.array)} images "
            f"but {labels_path} holds {len(labels.array)} labels"
        )
    if labels.array.size and labels.array.max() >= NUM_CLASSES:
        raise DataError(f"{labels_path}: label {labels.array.max()} is not a digit 0-9")
    return images, labels


def verify_checksums(checksums: dict[str, str], data_dir: Path) -> None:
    """Raise ChecksumError naming every file whose content differs from canonical MNIST."""
    wrong = [
        f"{stem}: sha256 {checksums[stem]}, expected {SHA256[stem]}"
        for stem in FILES
        if checksums[stem] != SHA256[stem]
    ]
    if wrong:
        raise ChecksumError(
            f"{data_dir} does not hold the canonical MNIST files (checksums of the uncompressed "
            "content differ):\n  " + "\n  ".join(wrong) + "\nReplace them with the canonical "
            "files, or pass --skip-checksums to train on other IDX data deliberately."
        )


def load_mnist(data_dir: Path, *, check_checksums: bool = True) -> Mnist:
    """Read the four files from ``data_dir``, validate them and (by default) their checksums."""
    if not data_dir.is_dir():
        raise MissingDataError(missing_message(data_dir, list(FILES)))
    train_x, train_y = _read_pair(data_dir, TRAIN_IMAGES, TRAIN_LABELS)
    test_x, test_y = _read_pair(data_dir, TEST_IMAGES, TEST_LABELS)
    checksums = {
        TRAIN_IMAGES: train_x.sha256,
        TRAIN_LABELS: train_y.sha256,
        TEST_IMAGES: test_x.sha256,
        TEST_LABELS: test_y.sha256,
    }
    if check_checksums:
        verify_checksums(checksums, data_dir)
    return Mnist(train_x.array, train_y.array, test_x.array, test_y.array, checksums)


def missing_message(data_dir: Path, missing: list[str]) -> str:
    """One sentence naming the directory and the files that are expected there."""
    return (
        f"MNIST files missing in {data_dir.resolve()}: {', '.join(missing)} "
        f"(each gzipped as <name>.gz or raw). The four files expected are: {', '.join(FILES)}."
    )


def split_validation(
    images: Images, labels: Labels, validation_size: int
) -> tuple[Images, Labels, Images, Labels]:
    """Hold out the first ``validation_size`` training examples, as the TensorFlow tutorial does."""
    if not 0 <= validation_size < len(images):
        raise DataError(
            f"validation size {validation_size} must be between 0 and the "
            f"{len(images)} training examples (exclusive)"
        )
    return (
        images[validation_size:],
        labels[validation_size:],
        images[:validation_size],
        labels[:validation_size],
    )


def describe(name: str, images: Images, labels: Labels) -> str:
    """A line of dataset statistics: shapes and label distribution, as the tutorial prints."""
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    distribution = " ".join(f"{digit}:{count}" for digit, count in enumerate(counts))
    return (
        f"{name:<10} images {images.shape!s:<16} labels {labels.shape!s:<9} "
        f"per digit [{distribution}]"
    )
