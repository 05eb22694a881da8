"""The compile cache: keys, hits, misses, and entries that must never be served."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from app.runtime import cache as cache_module
from app.runtime.cache import CompileCache, Lookup, version_key


def version(root: Path, content: bytes = b"graph") -> Path:
    """A version folder with the files a SavedModel has (their content is all a key reads)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "saved_model.pb").write_bytes(content)
    (root / "fingerprint.pb").write_bytes(b"fingerprint-" + content)
    (root / "variables").mkdir(exist_ok=True)
    (root / "variables" / "variables.index").write_bytes(b"index")
    (root / "metadata.json").write_text('{"test_accuracy": 0.9}')
    return root


def artifact(tmp_path: Path, content: bytes = b"compiled artifact bytes") -> Path:
    path = tmp_path / "fresh.npz"
    path.write_bytes(content)
    return path


def test_the_key_follows_the_savedmodel_files_and_the_toolchain(tmp_path: Path) -> None:
    one = version(tmp_path / "1")
    same = version(tmp_path / "2")
    assert version_key(one, "tc") == version_key(same, "tc")  # content, not the folder name
    (same / "metadata.json").write_text('{"test_accuracy": 0.1}')
    assert version_key(one, "tc") == version_key(same, "tc")  # metadata is not compiled
    assert version_key(one, "tc") != version_key(one, "another toolchain")
    (same / "variables" / "variables.index").write_bytes(b"other weights")
    assert version_key(one, "tc") != version_key(same, "tc")
    (same / "variables" / "variables.index").write_bytes(b"index")
    (same / "fingerprint.pb").write_bytes(b"another fingerprint")
    assert version_key(one, "tc") != version_key(same, "tc")


def test_the_toolchain_names_tensorflow_and_litert() -> None:
    toolchain = cache_module.toolchain()
    assert f"format={cache_module.FORMAT}" in toolchain
    assert "tensorflow=2." in toolchain
    assert "litert=" in toolchain


def test_miss_then_hit(tmp_path: Path) -> None:
    cache = CompileCache(tmp_path / "cache")
    assert cache.lookup("k1") == (Lookup.MISS, None)
    stored = cache.store("k1", artifact(tmp_path))
    assert stored is not None
    result, entry = cache.lookup("k1")
    assert result is Lookup.HIT
    assert entry is not None
    assert entry.artifact.read_bytes() == b"compiled artifact bytes"
    assert cache.lookup("k2") == (Lookup.MISS, None)


@pytest.mark.parametrize(
    "damage",
    ["truncated", "tampered", "manifest of another key", "manifest missing", "artifact missing"],
)
def test_a_damaged_entry_is_rejected_and_removed(tmp_path: Path, damage: str) -> None:
    cache = CompileCache(tmp_path / "cache")
    entry = cache.store("k1", artifact(tmp_path))
    assert entry is not None
    manifest = entry.artifact.with_suffix(".json")
    data = entry.artifact.read_bytes()
    if damage == "truncated":
        entry.artifact.write_bytes(data[:-3])
    elif damage == "tampered":  # same size, one byte changed
        entry.artifact.write_bytes(data[:5] + bytes([data[5] ^ 1]) + data[6:])
    elif damage == "manifest of another key":
        other = cache.store("k2", artifact(tmp_path))
        assert other is not None
        manifest.write_bytes(other.artifact.with_suffix(".json").read_bytes())
    elif damage == "manifest missing":
        manifest.unlink()
    else:
        entry.artifact.unlink()
    assert cache.lookup("k1") == (Lookup.REJECTED, None)
    assert not entry.artifact.exists()
    assert not manifest.exists()
    assert cache.lookup("k1") == (Lookup.MISS, None)  # and then rebuilt like any miss


def test_an_unwritable_cache_directory_is_read_but_not_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real filesystem refusal (works as root too): the cache path lies under a file."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    cache = CompileCache(blocker / "cache")
    with caplog.at_level(logging.WARNING, logger="app.cache"):
        assert cache.store("k1", artifact(tmp_path)) is None
        assert cache.store("k2", artifact(tmp_path)) is None
    assert [r.getMessage() for r in caplog.records] == [
        "compile cache not written; serving goes on without it"
    ]
    assert cache.lookup("k1") == (Lookup.MISS, None)


def test_a_full_or_read_only_disk_costs_the_cache_not_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = CompileCache(tmp_path / "cache")
    failure = errno.ENOSPC

    def failing_write(path: Path, data: bytes) -> None:
        raise OSError(failure, os.strerror(failure), str(path))

    monkeypatch.setattr(cache_module, "_write_atomically", failing_write)
    with caplog.at_level(logging.WARNING, logger="app.cache"):
        assert cache.store("k1", artifact(tmp_path)) is None
        assert cache.store("k2", artifact(tmp_path)) is None  # the same problem: said once
        failure = errno.EROFS
        assert cache.store("k3", artifact(tmp_path)) is None  # a new problem: said again
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["compile cache not written; serving goes on without it"] * 2
    assert cache.lookup("k1") == (Lookup.MISS, None)
    monkeypatch.undo()
    assert cache.store("k4", artifact(tmp_path)) is not None  # recovered


def test_a_disabled_cache_finds_and_keeps_nothing(tmp_path: Path) -> None:
    cache = CompileCache(None)
    assert not cache.enabled
    assert cache.store("k1", artifact(tmp_path)) is None
    assert cache.lookup("k1") == (Lookup.MISS, None)
    cache.discard("k1")


def test_an_interrupted_store_leaves_no_entry_that_would_be_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = CompileCache(tmp_path / "cache")
    real = cache_module._write_atomically

    def crash_before_manifest(path: Path, data: bytes) -> None:
        if path.suffix == ".json":
            raise OSError(errno.EIO, "power cut")
        real(path, data)

    monkeypatch.setattr(cache_module, "_write_atomically", crash_before_manifest)
    assert cache.store("k1", artifact(tmp_path)) is None
    monkeypatch.undo()
    assert cache.lookup("k1") == (Lookup.REJECTED, None)
