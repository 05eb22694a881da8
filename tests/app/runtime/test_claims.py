"""Claims on cache keys: another process's claim is waited for, never forever, never fatally."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from app.runtime.claims import claimed

GUARD_SECONDS = 30  # a hang guard, never reached when claims work
# Holds the claim on one key until its stdin closes, announcing it on stdout.
HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def held_in_child(directory: Path, key: str) -> Iterator[subprocess.Popen[str]]:
    """A child process holding the claim on ``key`` until it is closed (or killed)."""
    directory.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-c", HOLDER, str(directory / f"{key}.lock")]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        try:
            yield child
        finally:
            child.kill()


def test_a_claim_held_by_another_process_is_waited_for(tmp_path: Path) -> None:
    entered = threading.Event()

    def claim() -> None:
        with claimed(tmp_path, ["k1"], timeout=GUARD_SECONDS):
            entered.set()

    with held_in_child(tmp_path, "k1") as holder:
        waiter = threading.Thread(target=claim)
        waiter.start()
        assert not entered.wait(0.3)  # still held by the child
        assert holder.stdin is not None
        holder.stdin.close()  # the holder exits, and the kernel drops its claim
        holder.wait(GUARD_SECONDS)
        waiter.join(GUARD_SECONDS)
    assert entered.is_set()


def test_claims_in_one_process_exclude_each_other_too(tmp_path: Path) -> None:
    """The launcher's prefetch thread and the server's loader share a process."""
    order: list[str] = []
    with claimed(tmp_path, ["k1", "k2"], timeout=GUARD_SECONDS):

        def claim() -> None:
            with claimed(tmp_path, ["k2"], timeout=GUARD_SECONDS):
                order.append("second")

        waiter = threading.Thread(target=claim)
        waiter.start()
        waiter.join(0.3)
        order.append("first released")
    waiter.join(GUARD_SECONDS)
    assert order == ["first released", "second"]


def test_a_claim_not_granted_in_time_is_given_up(tmp_path: Path) -> None:
    with held_in_child(tmp_path, "k1") as holder, claimed(tmp_path, ["k1"], timeout=0.2):
        assert holder.poll() is None  # entered while the other claim still stands


def test_cancelling_stops_the_wait(tmp_path: Path) -> None:
    with (
        held_in_child(tmp_path, "k1") as holder,
        claimed(tmp_path, ["k1"], timeout=GUARD_SECONDS, cancelled=lambda: True),
    ):
        assert holder.poll() is None


def test_without_a_writable_directory_there_is_no_claim_and_no_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with claimed(blocker / "cache", ["k1"], timeout=GUARD_SECONDS):
        pass
    assert not (blocker / "cache").exists()
