"""glibc's allocator settings and trimming (what they give back is measured by
benchmarks/overload.py, not here)."""

from __future__ import annotations

import ctypes.util
import platform
import subprocess
import sys

import pytest

from app.traffic.allocator import trim
from tests.app.server_process import REPO

glibc = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or ctypes.util.find_library("c") is None,
    reason="mallopt and malloc_trim are glibc's",
)


@glibc
def test_glibc_accepts_every_setting() -> None:
    # In a child: the settings are for the server's whole life, not for the test process's.
    check = "from app.traffic.allocator import tune_allocator; assert tune_allocator() is True"
    subprocess.run([sys.executable, "-c", check], cwd=REPO, check=True, timeout=60)


@glibc
def test_trimming_the_heap_is_safe_at_any_time() -> None:
    blocks = [bytearray(300_000) for _ in range(20)]
    del blocks
    trim()
