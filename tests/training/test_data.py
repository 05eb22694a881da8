"""Reading and validating the IDX files."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from tests.mnist_files import require_mnist
from tests.training.synthetic import digits, idx_bytes, write_dataset, write_idx
from training.data import (
    FILES,
    IMAGES_MAGIC,
    LABELS_MAGIC,
    SHA256,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    describe,
    load_mnist,
    parse_idx,
    read_idx,
    split_validation,
    verify_checksums,
)
from training.errors import ChecksumError, DataError, MissingDataError


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "raw"])
def test_reads_images_and_labels_gzipped_or_raw(tmp_path: Path, gz: bool) -> None:
    images, labels = digits(30, seed=3)
    image_file = write_idx(tmp_path / TRAIN_IMAGES, idx_bytes(images, IMAGES_MAGIC), gz=gz)
    label_file = write_idx(tmp_path / TRAIN_LABELS, idx_bytes(labels, LABELS_MAGIC), gz=gz)

    np.testing.assert_array_equal(read_idx(image_file, IMAGES_MAGIC).array, images)
    read_labels = read_idx(label_file, LABELS_MAGIC)
    np.testing.assert_array_equal(read_labels.array, labels)
    # The checksum is of the uncompressed content, whatever the wrapper.
    assert read_labels.sha256 == hashlib.sha256(idx_bytes(labels, LABELS_MAGIC)).hexdigest()


def test_gzipped_and_raw_copies_load_to_the_same_dataset(tmp_path: Path) -> None:
    zipped = load_mnist(write_dataset(tmp_path / "gz", gz=True), check_checksums=False)
    raw = load_mnist(write_dataset(tmp_path / "raw", gz=False), check_checksums=False)
    np.testing.assert_array_equal(zipped.train_images, raw.train_images)
    assert zipped.checksums == raw.checksums
    assert zipped.train_images.shape == (600, 28, 28)
    assert zipped.test_labels.shape == (200,)


def test_wrong_magic_number_is_reported(tmp_path: Path) -> None:
    labels = np.zeros(5, dtype=np.uint8)
    path = write_idx(tmp_path / "labels", idx_bytes(labels, LABELS_MAGIC), gz=True)
    with pytest.raises(DataError, match=r"wrong magic number 2049 \(expected 2051\)"):
        read_idx(path, IMAGES_MAGIC)


@pytest.mark.parametrize(
    ("cut", "message"),
    [(-1, "truncated"), (3, "too short for an IDX header"), (10, "truncated IDX header")],
)
def test_truncated_file_is_reported(tmp_path: Path, cut: int, message: str) -> None:
    content = idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8), IMAGES_MAGIC)
    truncated = content[:cut]
    path = write_idx(tmp_path / "images", truncated, gz=False)
    with pytest.raises(DataError, match=message):
        read_idx(path, IMAGES_MAGIC)


def test_trailing_bytes_are_reported() -> None:
    content = idx_bytes(np.zeros(4, dtype=np.uint8), LABELS_MAGIC) + b"\x00"
    with pytest.raises(DataError, match="has trailing bytes"):
        parse_idx(content, LABELS_MAGIC, "labels")


def test_corrupt_gzip_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(b"0123456789")[:12])
    with pytest.raises(DataError, match="not a valid gzip file"):
        read_idx(path, LABELS_MAGIC)


def test_count_mismatch_between_images_and_labels(tmp_path: Path) -> None:
    data_dir = write_dataset(tmp_path)
    _, labels = digits(599, seed=1)
    write_idx(data_dir / TRAIN_LABELS, idx_bytes(labels, LABELS_MAGIC), gz=True)
    with pytest.raises(DataError, match=r"count mismatch: .* 600 images but .* 599 labels"):
        load_mnist(data_dir, check_checksums=False)


def test_images_that_are_not_28x28_are_rejected(tmp_path: Path) -> None:
    data_dir = write_dataset(tmp_path)
    small = np.zeros((600, 14, 14), dtype=np.uint8)
    write_idx(data_dir / TRAIN_IMAGES, idx_bytes(small, IMAGES_MAGIC), gz=True)
    with pytest.raises(DataError, match=r"images are \(14, 14\), expected 28x28"):
        load_mnist(data_dir, check_checksums=False)


def test_labels_must_be_digits(tmp_path: Path) -> None:
    data_dir = write_dataset(tmp_path)
    labels = np.full(200, 10, dtype=np.uint8)
    write_idx(data_dir / TEST_LABELS, idx_bytes(labels, LABELS_MAGIC), gz=True)
    with pytest.raises(DataError, match="label 10 is not a digit"):
        load_mnist(data_dir, check_checksums=False)


def test_checksum_mismatch_names_each_differing_file(tmp_path: Path) -> None:
    with pytest.raises(ChecksumError) as caught:
        load_mnist(write_dataset(tmp_path))
    message = str(caught.value)
    assert str(tmp_path) in message
    for stem in FILES:
        assert f"{stem}: sha256 " in message
        assert f"expected {SHA256[stem]}" in message
    assert "--skip-checksums" in message


def test_the_real_files_pass_the_checksum_check() -> None:
    folder = require_mnist()
    # Hashed here, not by read_idx, so that the check is held against an independent digest.
    actual = {stem: hashlib.sha256(_uncompressed(folder, stem)).hexdigest() for stem in FILES}
    verify_checksums(actual, folder)
    assert actual == SHA256
    assert load_mnist(folder).checksums == actual


def _uncompressed(folder: Path, stem: str) -> bytes:
    zipped = folder / f"{stem}.gz"
    return gzip.decompress(zipped.read_bytes()) if zipped.exists() else (folder / stem).read_bytes()


def test_missing_files_are_named(tmp_path: Path) -> None:
    data_dir = write_dataset(tmp_path)
    (data_dir / f"{TRAIN_LABELS}.gz").unlink()
    with pytest.raises(MissingDataError, match=f"missing in {data_dir}: {TRAIN_LABELS} "):
        load_mnist(data_dir, check_checksums=False)


def test_validation_split_holds_out_the_first_examples() -> None:
    images, labels = digits(50, seed=4)
    train_x, train_y, val_x, val_y = split_validation(images, labels, 20)
    np.testing.assert_array_equal(val_x, images[:20])
    np.testing.assert_array_equal(train_y, labels[20:])
    assert (len(train_x), len(val_y)) == (30, 20)
    with pytest.raises(DataError, match="validation size 50"):
        split_validation(images, labels, 50)


def test_describe_prints_shapes_and_label_distribution() -> None:
    labels = np.array([0, 1, 1, 9, 9, 9], dtype=np.uint8)
    line = describe("train", np.zeros((6, 28, 28), dtype=np.uint8), labels)
    assert "(6, 28, 28)" in line
    assert "0:1 1:2 2:0" in line
    assert "9:3]" in line


def test_the_shared_mnist_labels_are_canonical() -> None:
    """The real label files (small) pass the checksum and show the published test distribution."""
    labels = read_idx(require_mnist() / f"{TEST_LABELS}.gz", LABELS_MAGIC)
    assert labels.sha256 == SHA256[TEST_LABELS]
    expected = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(labels.array, minlength=10).tolist() == expected
