"""Where the tests find the real MNIST files, and what a test that needs them does without them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]


class MnistNotFoundError(FileNotFoundError):
    """Neither $MNIST_DATA_DIR nor a shared/mnist folder beside the clone holds the files."""


def mnist_dir() -> Path:
    """The MNIST files: $MNIST_DATA_DIR, else ../shared/mnist beside the clone (as in CI)."""
    # A git worktree sits one level deeper than a clone (<root>/wt/<name>).
    shared = [root / "shared" / "mnist" for root in (_REPO.parent, _REPO.parent.parent)]
    places = " or ".join(str(folder) for folder in shared)
    if configured := os.environ.get("MNIST_DATA_DIR"):
        if Path(configured).is_dir():
            return Path(configured)
        raise MnistNotFoundError(
            f"MNIST files not found: MNIST_DATA_DIR is {configured!r}, which is no folder; point"
            f" it at the IDX files, or unset it to read them from {places}"
        )
    for folder in shared:
        if folder.is_dir():
            return folder
    raise MnistNotFoundError(
        f"MNIST files not found: MNIST_DATA_DIR is not set and there is no {places}; set"
        " MNIST_DATA_DIR to the folder holding the IDX files, or put them in one of those"
    )


def in_ci() -> bool:
    """Whether this is a CI run (CI=true), where the MNIST files are always provided."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_mnist() -> Path:
    """The MNIST folder for a test that checks real data; without it, fail in CI, else skip.

    CI always provides the files, so there a missing copy is a broken set-up that a skip would
    hide; on a developer's machine without the data the test is skipped, saying why.
    """
    try:
        return mnist_dir()
    except MnistNotFoundError as missing:
        if in_ci():
            pytest.fail(f"{missing} (CI must provide them)")
        pytest.skip(f"{missing} (skipped outside CI; with CI=true this fails)")
