"""Several server processes on one port: how many, and which one this process is.

``python -m app`` starts ``MNIST_WORKERS`` uvicorn workers that share the listening socket; the
kernel hands each new connection to one of them. The supervisor (uvicorn's) replaces a worker
that dies. Each worker loads the models itself, through the shared compile cache, whose claims
let one of them compile while the others wait and then read the result.

A worker's number (0 to N-1, shown in its log lines and metrics) is an ``flock`` on
``worker-<n>.lock`` in the workers' shared directory: the kernel drops it when the worker exits or
is killed, so the replacement of worker 1 takes number 1 again.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from app.observability.logs import set_worker

if TYPE_CHECKING:
    from app.observability.metrics import Metrics

logger = logging.getLogger("app.workers")

# The directory the launcher creates for one run of the workers (metrics files, worker numbers);
# prometheus_client's multiprocess mode reads the same variable.
SHARED_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
_CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota.

    In a container with a CPU limit (Kubernetes ``limits.cpu``) the affinity still lists every
    core of the node; the quota says how much of them the container gets.
    """
    cores = len(os.sched_getaffinity(0))
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return cores


def _cgroup_quota() -> float | None:
    """CPUs' worth of time per period the cgroup may use (v2, else v1); None: no limit."""
    with contextlib.suppress(OSError, ValueError):
        quota, period = _CGROUP_CPU_MAX.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    with contextlib.suppress(OSError, ValueError):
        v1_quota = int((_CGROUP_V1_CPU / "cpu.cfs_quota_us").read_text())
        v1_period = int((_CGROUP_V1_CPU / "cpu.cfs_period_us").read_text())
        return None if v1_quota <= 0 else v1_quota / v1_period
    return None


def shared_dir() -> Path | None:
    """The workers' shared directory, when this process is one of several workers."""
    value = os.environ.get(SHARED_DIR_VARIABLE)
    return Path(value) if value else None


class WorkerSlot:
    """This worker's number, held for as long as the process lives (or until ``release``)."""

    def __init__(self, number: int, descriptor: int) -> None:
        self.number = number
        self._descriptor: int | None = descriptor

    @classmethod
    def claim(cls, directory: Path) -> WorkerSlot:
        """Take the lowest free number in ``directory``."""
        number = 0
        while True:
            path = directory / f"worker-{number}.lock"
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                number += 1
                continue
            return cls(number, descriptor)

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def start_worker(metrics: Metrics, configured: int) -> WorkerSlot | None:
    """Join the other workers (number, shared metrics); None when this process serves alone."""
    directory = shared_dir()
    if directory is None:
        if configured > 1:
            logger.warning(
                "MNIST_WORKERS is read by `python -m app`; this process serves alone",
                extra={"workers": configured},
            )
        return None
    slot = WorkerSlot.claim(directory)
    set_worker(slot.number)
    metrics.start_worker()
    logger.info("worker started", extra={"pid": os.getpid()})
    return slot


def stop_worker(metrics: Metrics, slot: WorkerSlot | None) -> None:
    """Write this worker's last counts and give its number back."""
    if slot is not None:
        metrics.stop_worker()
        slot.release()
