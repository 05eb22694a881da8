"""Several workers' tallies, merged by prometheus_client's multiprocess collector."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from app.observability.multiprocess import TallyFiles
from app.observability.tallies import CounterTally, HistogramTally, TallyCollector
from tests.app.observability.test_tallies import exposed

BUCKETS = (0.001, 0.01, 0.1, 1.0)


def worker_tallies() -> tuple[CounterTally, HistogramTally]:
    return (
        CounterTally("requests", "Requests.", ["route", "status"]),
        HistogramTally("latency", "Time.", ["route"], BUCKETS),
    )


def record(tallies: tuple[CounterTally, HistogramTally], rng: random.Random, count: int) -> None:
    counter, histogram = tallies
    for _ in range(count):
        route = rng.choice(["/predict", "/v2/models/{name}/infer"])
        counter.add((route, rng.choice([200, 422])))
        histogram.observe((route,), rng.choice([*BUCKETS, rng.uniform(0, 2)]))


def test_the_merged_files_equal_one_process_counting_everything(tmp_path: Path) -> None:
    """Two workers' files, merged, expose what one process that saw every request would."""
    rng = random.Random(5)
    workers = [worker_tallies(), worker_tallies()]
    everything = worker_tallies()
    files = [
        TallyFiles(tmp_path, tallies, pid)
        for pid, tallies in ((101, workers[0]), (102, workers[1]))
    ]
    for _ in range(3):  # several rounds: files are updated in place, not appended
        for tallies, writer in zip(workers, files, strict=True):
            seed = rng.random()
            record(tallies, random.Random(seed), 50)
            record(everything, random.Random(seed), 50)
            writer.write()

    merged, reference = CollectorRegistry(), CollectorRegistry()
    MultiProcessCollector(merged, path=str(tmp_path))
    TallyCollector(reference, *everything)
    expected, found = exposed(reference), exposed(merged)
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        assert found[key] == pytest.approx(value), key
    for writer in files:
        writer.close()


def test_a_dead_workers_counts_stay_in_the_merge(tmp_path: Path) -> None:
    """A counter never goes down: a worker that exited still counts what it answered."""
    gone, alive = (
        CounterTally("requests", "R.", ["route"]),
        CounterTally("requests", "R.", ["route"]),
    )
    gone.add(("/predict",), 5)
    alive.add(("/predict",), 2)
    first = TallyFiles(tmp_path, [gone], 201)
    first.write()
    first.close()
    second = TallyFiles(tmp_path, [alive], 202)
    second.write()
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=str(tmp_path))
    assert exposed(merged)[("requests_total", frozenset({("route", "/predict")}))] == 7
    second.close()
