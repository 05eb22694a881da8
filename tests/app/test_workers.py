"""How many workers, and each worker's number."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app import workers
from app.workers import WorkerSlot, usable_cores


@pytest.mark.parametrize(
    ("cpu_max", "cap"),
    [("max 100000\n", None), ("100000 100000\n", 1), ("150000 100000\n", 2), ("50000 100000", 1)],
)
def test_usable_cores_follow_the_cgroup_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str, cap: int | None
) -> None:
    affinity = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text(cpu_max)
    monkeypatch.setattr(workers, "_CGROUP_CPU_MAX", tmp_path / "cpu.max")
    assert usable_cores() == (affinity if cap is None else min(affinity, cap))


def test_usable_cores_without_cgroup_are_the_affinity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "_CGROUP_CPU_MAX", tmp_path / "absent")
    assert usable_cores() == len(os.sched_getaffinity(0))


def test_worker_numbers_are_the_lowest_free_ones(tmp_path: Path) -> None:
    first, second = WorkerSlot.claim(tmp_path), WorkerSlot.claim(tmp_path)
    assert (first.number, second.number) == (0, 1)
    first.release()  # a worker that died: its replacement takes its number
    replacement = WorkerSlot.claim(tmp_path)
    assert replacement.number == 0
    third = WorkerSlot.claim(tmp_path)
    assert third.number == 2
    for slot in (second, replacement, third):
        slot.release()
