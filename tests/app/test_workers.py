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
    monkeypatch.setattr(workers, "_CGROUP_V1_CPU", tmp_path / "absent-too")
    assert usable_cores() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("quota", "cap"), [("-1", None), ("100000", 1), ("250000", 3)])
def test_usable_cores_follow_a_cgroup_v1_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quota: str, cap: int | None
) -> None:
    monkeypatch.setattr(workers, "_CGROUP_CPU_MAX", tmp_path / "absent")
    monkeypatch.setattr(workers, "_CGROUP_V1_CPU", tmp_path)
    (tmp_path / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (tmp_path / "cpu.cfs_period_us").write_text("100000\n")
    affinity = len(os.sched_getaffinity(0))
    assert usable_cores() == (affinity if cap is None else min(affinity, cap))


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
