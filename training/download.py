"""Fetch missing MNIST files from public mirrors, verified by checksum and written atomically."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import tempfile
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path

from training.data import FILES, SHA256, missing_files
from training.errors import MissingDataError

# Mirrors of LeCun's files that are known to serve the canonical content (LeCun's own site
# now often refuses automated downloads, so it is not among them).
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
TIMEOUT_SECONDS = 30.0

Fetch = Callable[[str], bytes]


def fetch_url(url: str) -> bytes:
    """GET ``url`` and return its body (the default fetcher; tests substitute their own)."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        body: bytes = response.read()
    return body


def write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` so that readers see either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed before the rename below
        dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False
    )
    try:
        with handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        Path(handle.name).chmod(0o644)
        Path(handle.name).replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(handle.name).unlink()


def _verified(stem: str, gz_bytes: bytes) -> str | None:
    """None if ``gz_bytes`` gunzips to the canonical ``stem``, else the reason it does not."""
    try:
        content = gzip.decompress(gz_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        return f"not a gzip file ({exc})"
    digest = hashlib.sha256(content).hexdigest()
    return None if digest == SHA256[stem] else f"checksum {digest} != {SHA256[stem]}"


def download_file(stem: str, data_dir: Path, fetch: Fetch, mirrors: tuple[str, ...]) -> str | None:
    """Try each mirror for ``stem``.gz; None on success, else the reasons every mirror failed."""
    reasons = []
    for mirror in mirrors:
        url = f"{mirror}{stem}.gz"
        try:
            body = fetch(url)
        except OSError as exc:  # urllib's URLError, timeouts and socket errors are all OSErrors
            reasons.append(f"{url}: {exc}")
            continue
        problem = _verified(stem, body)
        if problem is None:
            write_atomically(data_dir / f"{stem}.gz", body)
            return None
        reasons.append(f"{url}: {problem}")
    return "; ".join(reasons) or "no mirror configured"


def ensure_data(
    data_dir: Path,
    *,
    download: bool = True,
    fetch: Fetch | None = None,
    mirrors: tuple[str, ...] = MIRRORS,
    log: Callable[[str], None] = print,
) -> None:
    """Make sure the four files are in ``data_dir``, downloading the missing ones if allowed.

    Raises MissingDataError with one message naming the directory and the four expected files
    when some are missing and cannot be fetched (e.g. on a machine without internet).
    ``fetch`` defaults to ``fetch_url``, looked up at call time so tests can replace it.
    """
    missing = missing_files(data_dir)
    if not missing:
        return
    expected = ", ".join(f"{stem}.gz" for stem in FILES)
    where = data_dir.resolve()
    if not download:
        raise MissingDataError(
            f"MNIST files missing in {where}: {', '.join(missing)}. Expected there: {expected} "
            "(gzipped or raw). Downloading is disabled (--no-download)."
        )
    for stem in missing:
        log(f"downloading {stem}.gz into {where}")
        reason = download_file(stem, data_dir, fetch or fetch_url, mirrors)
        if reason is not None:
            # Stop at the first file no mirror could serve: offline, the others would fail the
            # same way, each after its own timeouts.
            still_missing = ", ".join(missing_files(data_dir))
            raise MissingDataError(
                f"MNIST files missing in {where} ({still_missing}) and no mirror could serve "
                f"them (offline?). Put the four files {expected} (gzipped or raw) there, "
                f"or point --data-dir / MNIST_DATA_DIR at a directory that holds them.\n"
                f"  {stem}: {reason}"
            )
