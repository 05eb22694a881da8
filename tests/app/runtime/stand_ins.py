"""A stand-in for the compiler child's interpreter, to make it crash, hang or be killed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def compiler_runs(script: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the compiler child is this shell ``script`` instead of Python."""
    fake = folder / "python"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
