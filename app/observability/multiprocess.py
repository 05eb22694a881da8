"""Metrics that are right whichever worker answers ``GET /metrics``.

With several workers (``MNIST_WORKERS`` > 1) every process keeps its own counts, and a scrape
reaches one of them. prometheus_client's multiprocess mode solves that for its own metrics: each
process writes its values into memory-mapped files in a shared directory, and the scrape merges
all the files (counters and histograms are summed; a dead worker's counts are kept, as a counter
must never go down). The request path's tallies (:mod:`.tallies`) take no locks and write no
files: a thread of each worker copies their values into files of the same format every
``interval`` seconds, and the worker that answers a scrape copies its own first. So a scrape
shows every request the answering worker has finished, and every request another worker had
finished up to ``interval`` before; a worker killed with SIGKILL loses at most that much.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Hashable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from app.observability.tallies import CounterTally, HistogramTally, bound_text

logger = logging.getLogger("app.workers")

FLUSH_INTERVAL_SECONDS = 0.25


class TallyFiles:
    """Copies tallies into prometheus_client multiprocess files named for this process."""

    def __init__(
        self, directory: Path, tallies: Sequence[CounterTally | HistogramTally], pid: int
    ) -> None:
        self._tallies = tallies
        self._counters = MmapedDict(str(directory / f"counter_tallies_{pid}.db"))
        self._histograms = MmapedDict(str(directory / f"histogram_tallies_{pid}.db"))
        self._keys: dict[tuple[str, Hashable], list[str]] = {}
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()

    def write(self) -> None:
        """Bring the files up to date with the tallies (only changed series are written)."""
        with self._lock:
            for tally in self._tallies:
                if isinstance(tally, CounterTally):
                    for key, count in list(tally.counts.items()):
                        (name,) = self._series_keys(tally, key)
                        self._put(self._counters, name, float(count))
                else:
                    for key, series in list(tally.series.items()):
                        names = self._series_keys(tally, key)
                        values = [*map(float, list(series.counts)), series.total]
                        for name, value in zip(names, values, strict=True):
                            self._put(self._histograms, name, value)

    def close(self) -> None:
        with self._lock:
            self._tallies = ()
            self._counters.close()
            self._histograms.close()

    def _put(self, file: MmapedDict, key: str, value: float) -> None:
        if self._written.get(key) != value:
            file.write_value(key, value, 0.0)
            self._written[key] = value

    def _series_keys(
        self, tally: CounterTally | HistogramTally, key: tuple[Hashable, ...]
    ) -> list[str]:
        cached = self._keys.get((tally.name, key))
        if cached is not None:
            return cached
        labels = [str(value) for value in key]
        doc, names = tally.documentation, tally.labelnames
        if isinstance(tally, CounterTally):
            keys = [mmap_key(tally.name, f"{tally.name}_total", names, labels, doc)]
        else:
            bounds = [*map(bound_text, tally.bounds), "+Inf"]
            keys = [
                mmap_key(tally.name, f"{tally.name}_bucket", [*names, "le"], [*labels, le], doc)
                for le in bounds
            ]
            keys.append(mmap_key(tally.name, f"{tally.name}_sum", names, labels, doc))
        self._keys[(tally.name, key)] = keys
        return keys


class WorkerMetrics:
    """One worker's share of the metrics: its tally files, its memory, its liveness."""

    def __init__(
        self, directory: Path, tallies: Sequence[CounterTally | HistogramTally], memory: Gauge
    ) -> None:
        self.directory = directory
        self.pid = os.getpid()
        self._forget_dead_workers()
        self._files = TallyFiles(directory, tallies, self.pid)
        self._memory = memory
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-files", daemon=True)
        self._thread.start()

    def flush(self) -> None:
        self._memory.set(_resident_bytes())
        self._files.write()

    def exposition(self) -> bytes:
        """Every worker's metrics, merged, this worker's brought up to date first."""
        self.flush()
        registry = CollectorRegistry(auto_describe=True)
        MultiProcessCollector(registry, path=str(self.directory))
        return generate_latest(registry)

    def close(self) -> None:
        """Write the last counts; this worker's live gauges leave the merge."""
        self._stopping.set()
        self._thread.join(timeout=5)
        self.flush()
        self._files.close()
        mark_process_dead(self.pid, str(self.directory))

    def _run(self) -> None:
        while not self._stopping.wait(FLUSH_INTERVAL_SECONDS):
            try:
                self.flush()
            except Exception:  # never let a metrics error end the thread silently
                logger.exception("writing this worker's metrics failed")

    def _forget_dead_workers(self) -> None:
        """Drop the live gauges of workers that died without cleaning up (killed, crashed)."""
        files = self.directory.glob("gauge_live*_*.db")
        pids = {path.stem.rsplit("_", 1)[-1] for path in files}
        for pid in pids:
            if pid.isdigit() and int(pid) != self.pid and not _alive(int(pid)):
                mark_process_dead(int(pid), str(self.directory))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _resident_bytes() -> float:
    pages = int(Path("/proc/self/statm").read_bytes().split()[1])
    return float(pages * os.sysconf("SC_PAGE_SIZE"))
