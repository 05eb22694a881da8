"""The compile cache: verified compiled artifacts, keyed by what they were compiled from.

Compiling a SavedModel means importing TensorFlow in a child process, seconds per start-up;
loading the artifact it produced takes milliseconds. Entries are keyed by the SavedModel's own
``fingerprint.pb`` and a SHA-256 of every file of the version (``metadata.json`` aside: it does
not change what is compiled), plus the versions of the compiler, TensorFlow and LiteRT, so a
changed model or toolchain never meets a stale entry. Each entry is ``<key>.npz`` beside a
``<key>.json`` manifest recording the key, the size and SHA-256 of the ``.npz``; an entry whose
manifest is missing or does not match (truncated, tampered with, or written for another key) is
rejected, deleted and rebuilt. The runtime then checks a hit's interpreter against the probe
answers it carries before serving it, as for a fresh compile.

The cache is an optimisation and never a reason to fail: a read-only or full cache directory
means entries are not written (said once in the log), and serving goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from pathlib import Path

from app.runtime.claims import claimed

logger = logging.getLogger("app.cache")

# Bump when the artifact's content or the key's recipe changes.
FORMAT = 1
_EXCLUDED = frozenset({"metadata.json"})
_CHUNK = 1 << 20


class Lookup(StrEnum):
    """What a cache lookup found (the ``result`` label of the cache metric)."""

    HIT = "hit"
    MISS = "miss"
    REJECTED = "rejected"  # an entry existed but failed its checks; rebuilt
    FAILED = "failed"  # the compiler refused these very files before: not tried again


def _package_version(*names: str) -> str:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "none"


def toolchain() -> str:
    """The compiler's identity: artifact format, TensorFlow and LiteRT versions."""
    tensorflow = _package_version("tensorflow-cpu", "tensorflow")
    litert = _package_version("ai-edge-litert")
    return f"format={FORMAT};tensorflow={tensorflow};litert={litert}"


def version_key(version_dir: Path, toolchain_id: str | None = None) -> str:
    """The cache key of a version folder: SHA-256 over its fingerprint, files and the toolchain."""
    digest = hashlib.sha256((toolchain_id or toolchain()).encode())
    fingerprint = version_dir / "fingerprint.pb"
    digest.update(b"fingerprint:" + (fingerprint.read_bytes() if fingerprint.is_file() else b""))
    files = sorted(p for p in version_dir.rglob("*") if p.is_file() and p.name not in _EXCLUDED)
    for path in files:
        digest.update(f"\0{path.relative_to(version_dir).as_posix()}\0".encode())
        digest.update(_sha256(path).encode())
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _EntryRejectedError(Exception):
    """A cache entry failed its checks; the message says which."""


@dataclass(frozen=True)
class CacheEntry:
    """A checked entry: where its artifact lies, and the bytes that were checked."""

    key: str
    artifact: Path
    data: bytes


class CompileCache:
    """Entries in ``directory``; a cache with ``directory=None`` is off and finds nothing."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._write_problem: str | None = None

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def lookup(self, key: str) -> tuple[Lookup, CacheEntry | None]:
        """The entry for ``key`` if it exists and passes its checks."""
        if self.directory is None:
            return Lookup.MISS, None
        artifact, manifest = self._paths(key)
        if not artifact.exists() and not manifest.exists():
            return Lookup.MISS, None
        try:
            data = self._read_checked(key, artifact, manifest)
        except _EntryRejectedError as rejected:
            problem = str(rejected)
        else:
            return Lookup.HIT, CacheEntry(key, artifact, data)
        logger.warning("compile cache entry rejected", extra={"key": key, "reason": problem})
        self.discard(key)
        return Lookup.REJECTED, None

    def store(self, key: str, artifact: Path) -> CacheEntry | None:
        """Copy a freshly compiled artifact into the cache; None if it cannot be written."""
        if self.directory is None:
            return None
        target, manifest = self._paths(key)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            data = artifact.read_bytes()
            record = {"key": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            # The artifact first, the manifest last: a crash in between leaves no manifest, so
            # the half-written entry is rejected rather than trusted.
            _write_atomically(target, data)
            _write_atomically(manifest, json.dumps(record).encode())
        except OSError as exc:
            # The kind of failure, not the file it hit: that differs from entry to entry.
            self._report_write_problem(f"{type(exc).__name__}: {exc.strerror or exc}")
            return None
        if self._write_problem is not None:
            logger.info("compile cache writable again", extra={"directory": str(self.directory)})
            self._write_problem = None
        return CacheEntry(key, target, data)

    def failure(self, key: str) -> str | None:
        """Why the compiler refused the files of ``key``, if it did (and the cache remembers)."""
        if self.directory is None:
            return None
        try:
            return (self.directory / f"{key}.failed").read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    def record_failure(self, key: str, reason: str) -> None:
        """Remember that the compiler refused the files of ``key`` (their next change retries)."""
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.directory / f"{key}.failed", reason.encode())
        except OSError as exc:
            self._report_write_problem(f"{type(exc).__name__}: {exc.strerror or exc}")

    def claim(
        self, keys: Iterable[str], *, timeout: float, cancelled: Callable[[], bool]
    ) -> contextlib.AbstractContextManager[None]:
        """Hold the claims on ``keys`` against the other processes sharing the cache."""
        if self.directory is None:
            return contextlib.nullcontext()
        return claimed(self.directory, keys, timeout=timeout, cancelled=cancelled)

    def discard(self, key: str) -> None:
        """Delete an entry (best effort: a read-only cache keeps it, and keeps rejecting it)."""
        if self.directory is None:
            return
        for path in self._paths(key):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)

    def _paths(self, key: str) -> tuple[Path, Path]:
        assert self.directory is not None
        return self.directory / f"{key}.npz", self.directory / f"{key}.json"

    def _read_checked(self, key: str, artifact: Path, manifest: Path) -> bytes:
        """The artifact's bytes, read once; :class:`_EntryRejectedError` if they are unusable."""
        try:
            record = json.loads(manifest.read_text(encoding="utf-8"))
            data = artifact.read_bytes()
        except FileNotFoundError as exc:
            raise _EntryRejectedError(
                f"{Path(exc.filename or '').name or 'a file'} is missing"
            ) from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _EntryRejectedError(f"unreadable: {exc}") from exc
        if not isinstance(record, dict) or record.get("key") != key:
            raise _EntryRejectedError("the manifest belongs to another key")
        if record.get("size") != len(data):
            raise _EntryRejectedError(
                f"the artifact has {len(data)} bytes, the manifest says {record.get('size')}"
            )
        if record.get("sha256") != hashlib.sha256(data).hexdigest():
            raise _EntryRejectedError("the artifact's checksum does not match its manifest")
        return data

    def _report_write_problem(self, problem: str) -> None:
        # Once per kind of problem, not once per version: a read-only volume is a setting.
        if problem != self._write_problem:
            logger.warning(
                "compile cache not written; serving goes on without it",
                extra={"directory": str(self.directory), "reason": problem},
            )
            self._write_problem = problem


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
