"""Claims on compile-cache keys, so that one process compiles a version while the others wait.

Several processes can share a cache directory: the workers of ``uvicorn --workers N``, a second
replica on the same volume, ``python -m app.repository.warm_cache`` run beside a server. Without
a claim each would import TensorFlow and compile the same versions. A claim is an exclusive
``flock`` on ``<key>.lock`` beside the entry: the kernel drops it when its holder exits or
crashes, so a claim is never left stale. A waiter that gets the claim looks the key up again
and usually finds it compiled.

Claims never make loading fail. A cache directory where lock files cannot be created (read-only,
full) gives no claims, and a claim not granted within the timeout is given up: at worst two
processes compile the same version, and the cache's atomic writes keep either result whole.
Lock files stay behind (zero bytes each): deleting one that another process waits on would
let a third process claim the same key at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

logger = logging.getLogger("app.cache")

POLL_SECONDS = 0.05


@contextlib.contextmanager
def claimed(
    directory: Path,
    keys: Iterable[str],
    *,
    timeout: float,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[None]:
    """Hold the claims on ``keys`` (taken in sorted order: two claimants never deadlock)."""
    with contextlib.ExitStack() as held:
        deadline = time.monotonic() + timeout
        for key in sorted(set(keys)):
            descriptor = _open_lock(directory / f"{key}.lock")
            if descriptor is None:
                continue
            held.callback(os.close, descriptor)  # closing it releases the claim
            _wait_for(descriptor, key, deadline, cancelled)
        yield


def _open_lock(path: Path) -> int | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        return None  # the cache itself reports why it cannot write here


def _wait_for(descriptor: int, key: str, deadline: float, cancelled: Callable[[], bool]) -> None:
    """Take the claim, polling (``flock`` has no timeout) until ``deadline`` or cancellation."""
    waiting, extra = False, {"key": key}
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        except OSError:
            return  # a file system without locks: compile without a claim
        if cancelled():
            return
        if time.monotonic() >= deadline:
            logger.warning("compile claim not granted in time; compiling anyway", extra=extra)
            return
        if not waiting:
            logger.info("waiting for another process compiling this version", extra=extra)
            waiting = True
        time.sleep(POLL_SECONDS)
