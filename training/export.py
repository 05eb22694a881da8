"""Atomic export of a trained model into a TF-Serving style repository ``<model_dir>/<name>/<n>/``.

A version directory appears all at once or not at all: the SavedModel and metadata.json are
written into a hidden ``.tmp-*`` folder beside the target (same filesystem), then renamed into
place, so a server scanning the repository never sees, and never loads, half a version.
Existing versions are never overwritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import tensorflow as tf

from training.errors import ExportError
from training.models import DigitModel

METADATA_FILE = "metadata.json"
TEMP_PREFIX = ".tmp-"


def existing_versions(name_dir: Path) -> list[int]:
    """The version numbers present under ``name_dir``, ascending; temp folders are not versions."""
    if not name_dir.is_dir():
        return []
    return sorted(
        int(entry.name)
        for entry in name_dir.iterdir()
        if entry.is_dir() and entry.name.isascii() and entry.name.isdigit()
    )


def next_version(name_dir: Path) -> int:
    """One more than the newest existing version, or 1 for an empty repository."""
    versions = existing_versions(name_dir)
    return versions[-1] + 1 if versions else 1


def _fsync_tree(root: Path) -> None:
    # Flush file contents before the rename so that a crash right after it cannot leave a
    # version directory whose files are still empty.
    for path in [*root.rglob("*"), root]:
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    directory = os.open(root, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _write(model: DigitModel, directory: Path, metadata: dict[str, Any]) -> None:
    """Write the SavedModel and metadata.json into ``directory`` and flush them to disk."""
    tf.saved_model.save(model, str(directory), signatures=model.signatures())
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    directory.chmod(0o755)  # mkdtemp makes it private; a server may run as another user
    _fsync_tree(directory)


def export_model(
    model: DigitModel,
    model_dir: Path,
    name: str,
    metadata: dict[str, Any],
    version: int | None = None,
) -> Path:
    """Save ``model`` as ``model_dir/name/version`` (next version by default) with metadata.json.

    ``metadata`` gets ``name`` and ``version`` filled in. Returns the version directory.
    """
    if not name or name.startswith(".") or "/" in name:
        raise ExportError(f"invalid model name {name!r}")
    if version is not None and version < 1:
        raise ExportError(f"version must be a positive integer, got {version}")
    name_dir = model_dir / name
    try:
        name_dir.mkdir(parents=True, exist_ok=True)
        version = next_version(name_dir) if version is None else version
        target = name_dir / str(version)
        if target.exists():
            raise ExportError(f"{target} already exists; versions are never overwritten")
        temp_dir = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{version}-", dir=name_dir))
    except OSError as exc:
        raise ExportError(f"cannot write to the model repository {name_dir}: {exc}") from exc

    try:
        try:
            _write(model, temp_dir, {"name": name, "version": version, **metadata})
            # os.rename refuses a non-empty target, so a concurrent export of the same
            # version fails here instead of mixing two models.
            os.rename(temp_dir, target)  # noqa: PTH104 - the rename(2) semantics are the point
        except (OSError, tf.errors.OpError) as exc:
            raise ExportError(f"could not export {target}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(temp_dir)
    return target


def read_metadata(version_dir: Path) -> dict[str, Any]:
    """The metadata.json of an exported version."""
    document: dict[str, Any] = json.loads((version_dir / METADATA_FILE).read_text())
    return document
