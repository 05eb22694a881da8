"""Fetching missing files: mirrors in order, checksum verification, atomic writes, offline message.

No test touches the network: every fetch is a function of the test's own.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
from pathlib import Path

import pytest

from tests.training.synthetic import write_dataset
from training import data
from training.data import FILES, TRAIN_LABELS, load_mnist
from training.download import ensure_data, write_atomically
from training.errors import MissingDataError

MIRRORS = ("https://mirror-a.invalid/mnist/", "https://mirror-b.invalid/mnist/")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Gzipped synthetic files by name, registered as the canonical checksums for the test."""
    source = write_dataset(tmp_path / "source")
    files = {}
    for stem in FILES:
        body = (source / f"{stem}.gz").read_bytes()
        files[f"{stem}.gz"] = body
        monkeypatch.setitem(data.SHA256, stem, hashlib.sha256(gzip.decompress(body)).hexdigest())
    return files


def offline(url: str) -> bytes:
    raise urllib.error.URLError("[Errno -2] Name or service not known")


def test_offline_gives_one_message_naming_the_directory_and_the_four_files(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data" / "mnist"
    with pytest.raises(MissingDataError) as caught:
        ensure_data(data_dir, fetch=offline, mirrors=MIRRORS, log=lambda _: None)
    message = str(caught.value)
    assert str(data_dir) in message
    assert "no mirror could serve them (offline?)" in message
    for stem in FILES:
        assert f"{stem}.gz" in message
    assert "Name or service not known" in message
    assert not data_dir.exists() or not any(data_dir.iterdir())


def test_missing_files_are_fetched_from_the_first_mirror_that_works(
    tmp_path: Path, served: dict[str, bytes]
) -> None:
    requested: list[str] = []

    def fetch(url: str) -> bytes:
        requested.append(url)
        if url.startswith(MIRRORS[0]):
            raise TimeoutError("timed out")
        return served[url.rsplit("/", 1)[1]]

    data_dir = tmp_path / "data"
    write_dataset(data_dir)
    (data_dir / f"{TRAIN_LABELS}.gz").unlink()
    ensure_data(data_dir, fetch=fetch, mirrors=MIRRORS, log=lambda _: None)

    assert requested == [f"{mirror}{TRAIN_LABELS}.gz" for mirror in MIRRORS]
    assert (data_dir / f"{TRAIN_LABELS}.gz").read_bytes() == served[f"{TRAIN_LABELS}.gz"]
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(f"{s}.gz" for s in FILES)
    load_mnist(data_dir)  # passes the (test's) checksums


def test_a_mirror_serving_other_content_is_skipped(
    tmp_path: Path, served: dict[str, bytes]
) -> None:
    def fetch(url: str) -> bytes:
        name = url.rsplit("/", 1)[1]
        return gzip.compress(b"not mnist") if url.startswith(MIRRORS[0]) else served[name]

    ensure_data(tmp_path, fetch=fetch, mirrors=MIRRORS, log=lambda _: None)
    for stem in FILES:
        assert (tmp_path / f"{stem}.gz").read_bytes() == served[f"{stem}.gz"]


def test_a_download_that_is_not_gzip_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="not a gzip file"):
        ensure_data(tmp_path, fetch=lambda _: b"<html>", mirrors=MIRRORS[:1], log=print)


def test_when_every_mirror_serves_wrong_content_nothing_is_written(
    tmp_path: Path, served: dict[str, bytes]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(MissingDataError, match=r"checksum [0-9a-f]{64} != "):
        ensure_data(data_dir, fetch=lambda _: gzip.compress(b"?"), mirrors=MIRRORS, log=print)
    assert list(data_dir.iterdir()) == []


def test_no_download_fails_without_fetching(tmp_path: Path) -> None:
    def fetch(url: str) -> bytes:
        raise AssertionError("must not fetch")

    with pytest.raises(MissingDataError, match=r"Downloading is disabled \(--no-download\)"):
        ensure_data(tmp_path, download=False, fetch=fetch)


def test_complete_directory_needs_no_fetch(tmp_path: Path) -> None:
    def fetch(url: str) -> bytes:
        raise AssertionError("must not fetch")

    ensure_data(write_dataset(tmp_path), fetch=fetch)


def test_atomic_write_leaves_no_partial_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(tmp_path / "file.gz", b"payload")
    assert list(tmp_path.iterdir()) == []
