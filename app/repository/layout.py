"""What the model repository holds on disk: ``<root>/<model>/<version>/saved_model.pb``.

A scan reads folder names and file metadata only (no model is opened), so it is cheap enough to
repeat every couple of seconds. Every version folder gets a *signature* of its files (paths,
sizes, modification times): a version that failed to load is retried only once it changes.
Hidden entries (``.tmp-*``, where training builds a version before renaming it into place) are
not looked at; any other folder whose name is not a positive integer is reported, not guessed at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SAVED_MODEL = "saved_model.pb"

FileSignature = tuple[tuple[str, int, int], ...]  # (relative path, size, mtime_ns) per file


@dataclass(frozen=True)
class VersionFolder:
    """One version folder; ``problem`` says why it cannot be loaded as it stands, if so."""

    number: int
    path: Path
    signature: FileSignature
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class ModelFolder:
    """One model: its version folders, and the entries in it that are not versions."""

    name: str
    path: Path
    versions: dict[int, VersionFolder] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)  # entry name -> reason
    problem: str | None = None  # e.g. the folder vanished

    @property
    def complete_versions(self) -> list[int]:
        return sorted(n for n, v in self.versions.items() if v.complete)


def model_names(root: Path) -> list[str]:
    """The models in the repository: its folders with a valid model name."""
    try:
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    except OSError:
        return []
    return [e.name for e in entries if e.is_dir() and MODEL_NAME.fullmatch(e.name)]


def scan_models(root: Path, names: Iterable[str]) -> dict[str, ModelFolder]:
    """The current state of each named model's folder."""
    return {name: scan_model(root / name, name) for name in names}


def scan_model(path: Path, name: str) -> ModelFolder:
    """The version folders of one model."""
    try:
        entries = sorted(os.scandir(path), key=lambda entry: entry.name)
    except FileNotFoundError:
        return ModelFolder(name, path, problem=f"the model folder {path} does not exist")
    except OSError as exc:
        return ModelFolder(name, path, problem=f"the model folder {path} is unreadable: {exc}")
    model = ModelFolder(name, path)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            continue
        # "010" is refused rather than read as 10: two folders must never claim one version.
        if not entry.name.isdigit() or entry.name != str(int(entry.name)) or entry.name == "0":
            model.ignored[entry.name] = (
                "version folders are named by positive integers without leading zeros (1, 2, …)"
            )
            continue
        number = int(entry.name)
        model.versions[number] = scan_version(Path(entry.path), number)
    return model


def scan_version(path: Path, number: int) -> VersionFolder:
    """A version folder's file signature, and whether it has the file TensorFlow loads."""
    files: list[tuple[str, int, int]] = []
    try:
        for folder, subfolders, names in os.walk(path):
            subfolders.sort()
            for file_name in sorted(names):
                full = Path(folder, file_name)
                stat = full.stat()
                files.append((str(full.relative_to(path)), stat.st_size, stat.st_mtime_ns))
    except OSError as exc:
        return VersionFolder(number, path, tuple(files), problem=f"unreadable: {exc}")
    problem = None
    if not any(relative == SAVED_MODEL for relative, _, _ in files):
        problem = f"incomplete: no {SAVED_MODEL} in {path}"
    return VersionFolder(number, path, tuple(files), problem)
