"""Faults around a new version: its folder removed or rewritten while it loads, the training job
killed (SIGKILL) while exporting it. None of them ever replaces the version being served."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from app.repository.layout import scan_models
from app.repository.policy import VersionPolicy
from app.repository.registry import ModelRegistry
from app.repository.watcher import RepositoryWatcher
from app.runtime.loader import LoadOutcome, LoadRequest
from tests.app.repository.fakes import FakeLoader, write_version
from tests.app.server_process import REPO


class MeddlingLoader(FakeLoader):
    """Loads like :class:`FakeLoader`, then does ``meddle`` to the folders before returning."""

    def __init__(self, meddle: Callable[[Path], None]) -> None:
        super().__init__()
        self.meddle = meddle

    def load(self, requests: Sequence[LoadRequest]) -> list[LoadOutcome]:
        outcomes = super().load(requests)
        for request in requests:
            if request.version == 2:
                self.meddle(request.path)
        return outcomes


def watcher(root: Path, loader: FakeLoader) -> RepositoryWatcher:
    return RepositoryWatcher(
        root,
        ModelRegistry("mnist"),
        loader,  # type: ignore[arg-type]
        policy=VersionPolicy.parse("latest"),
        poll_seconds=0,
    )


def corrupt(folder: Path) -> None:
    (folder / "saved_model.pb").write_text("broken: rewritten while it loaded")


@pytest.mark.anyio
@pytest.mark.parametrize("meddle", [shutil.rmtree, corrupt], ids=["removed", "corrupted"])
async def test_a_version_changed_while_it_loads_never_replaces_the_served_one(
    tmp_path: Path, meddle: Callable[[Path], None]
) -> None:
    write_version(tmp_path, "mnist", 1)
    watched = watcher(tmp_path, MeddlingLoader(meddle))
    await watched.start()
    write_version(tmp_path, "mnist", 2)
    await watched.reconcile()  # version 2 loads, but its folder changes meanwhile
    record = watched.registry.models["mnist"]
    assert record.newest is not None
    assert record.newest.version == 1
    assert record.available() == [1]
    assert "removed or changed while it loaded" in (record.versions[2].reason or "")
    await watched.reconcile()  # the next pass sees the folder as it now is
    assert record.available() == [1]
    assert 2 not in record.versions or record.versions[2].state.value == "error"
    await watched.close()


KILLED_EXPORT = """
import os, signal, sys, threading, time
from pathlib import Path

from training.export import export_model
from training.models import SoftmaxRegression

model_dir, when = Path(sys.argv[1]), sys.argv[2]
if when == "before-rename":  # the SavedModel complete in its temporary folder
    os.rename = lambda source, target: os.kill(os.getpid(), signal.SIGKILL)
else:  # as soon as the first file of the SavedModel appears
    def kill_on_first_file() -> None:
        while not any(p.is_file() for p in model_dir.rglob("*")):
            time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=kill_on_first_file, daemon=True).start()
export_model(SoftmaxRegression(), model_dir, "mnist", {})
print("export finished: the kill came too late")
"""


@pytest.mark.slow
@pytest.mark.parametrize("when", ["mid-write", "before-rename"])
def test_a_training_job_killed_while_exporting_leaves_no_version_to_load(
    tmp_path: Path, when: str
) -> None:
    (tmp_path / "mnist").mkdir()
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_EXPORT), str(tmp_path), when],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr
    assert any(tmp_path.rglob("*")), "the kill came before anything was written"
    folder = scan_models(tmp_path, ["mnist"])["mnist"]
    assert folder.versions == {}
    assert folder.complete_versions == []
