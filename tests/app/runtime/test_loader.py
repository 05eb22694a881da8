"""Loading versions through the compile cache: one compiler child for every miss, none for hits."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from app.runtime import compiler
from app.runtime import loader as loader_module
from app.runtime.cache import CompileCache, Lookup, version_key
from app.runtime.litert import CompilationError, VersionRejectedError
from app.runtime.loader import LoadRequest, ModelLoader
from tests.app.conftest import MODEL_NAME
from tests.app.runtime.stand_ins import compiler_runs

GUARD_SECONDS = 30  # a hang guard: the child would sleep for 60 s


class CountingCompiler:
    """Wraps the real ``compile_versions`` and records each child's batch."""

    def __init__(self) -> None:
        self.batches: list[list[Path]] = []
        self.real = compiler.compile_versions

    def __call__(self, dirs: Sequence[Path], output: Path, **kwargs: Any) -> Any:
        self.batches.append(list(dirs))
        return self.real(dirs, output, **kwargs)


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> CountingCompiler:
    counting = CountingCompiler()
    monkeypatch.setattr(loader_module, "compile_versions", counting)
    return counting


def failing_compiler(
    monkeypatch: pytest.MonkeyPatch, error: Callable[[Path], CompilationError]
) -> list[list[Path]]:
    """From now on every compile fails each version with ``error(version_dir)``; the batches."""
    batches: list[list[Path]] = []

    def failing(dirs: Sequence[Path], output: Path, **kwargs: Any) -> Any:
        batches.append(list(dirs))
        return [error(d) for d in dirs]

    monkeypatch.setattr(loader_module, "compile_versions", failing)
    return batches


def versions(model_dir: Path, root: Path, count: int) -> list[LoadRequest]:
    requests = []
    for number in range(1, count + 1):
        shutil.copytree(model_dir / MODEL_NAME / "1", root / str(number))
        requests.append(LoadRequest(MODEL_NAME, number, root / str(number)))
    return requests


def test_misses_share_one_child_and_hits_need_none(
    model_dir: Path, tmp_path: Path, children: CountingCompiler
) -> None:
    requests = versions(model_dir, tmp_path / "mnist", 2)
    broken = tmp_path / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"\x08\x01 not a graph")
    requests.append(LoadRequest("broken", 1, broken))
    loader = ModelLoader(CompileCache(tmp_path / "cache"))

    cold = loader.load(requests)
    assert len(children.batches) == 1
    assert len(children.batches[0]) == 3
    assert [o.cache for o in cold] == [Lookup.MISS] * 3
    assert [o.servable is not None for o in cold] == [True, True, False]
    assert cold[2].error is not None
    assert "could not load" in cold[2].error

    warm = loader.load(requests[:2])
    assert len(children.batches) == 1  # no new child
    assert [o.cache for o in warm] == [Lookup.HIT, Lookup.HIT]
    assert all(o.servable is not None for o in warm)
    assert [o.servable.version for o in warm if o.servable] == [1, 2]


def test_a_cached_artifact_that_fails_its_checks_is_recompiled(
    model_dir: Path, tmp_path: Path, children: CountingCompiler
) -> None:
    (request,) = versions(model_dir, tmp_path / "mnist", 1)
    cache = CompileCache(tmp_path / "cache")
    loader = ModelLoader(cache)
    loader.load([request])
    key = version_key(request.path, loader.toolchain)
    # A consistent forgery: a valid manifest over an artifact that is not a compiled model.
    forged = tmp_path / "forged.npz"
    forged.write_bytes(b"PK\x03\x04 not really a zip")
    cache.store(key, forged)

    (outcome,) = loader.load([request])
    assert outcome.cache is Lookup.REJECTED
    assert outcome.servable is not None
    assert len(children.batches) == 2
    assert cache.lookup(key)[0] is Lookup.HIT  # rebuilt


def test_without_a_usable_cache_versions_still_load(
    model_dir: Path, tmp_path: Path, children: CountingCompiler
) -> None:
    (request,) = versions(model_dir, tmp_path / "mnist", 1)
    blocker = tmp_path / "file"
    blocker.write_text("")
    for cache in (CompileCache(None), CompileCache(blocker / "cache")):
        (outcome,) = ModelLoader(cache).load([request])
        assert outcome.servable is not None, outcome.error
    assert len(children.batches) == 2


def test_an_unreadable_version_fails_alone(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = versions(model_dir, tmp_path / "mnist", 1)
    requests.insert(0, LoadRequest(MODEL_NAME, 9, tmp_path / "vanished"))

    def no_child(dirs: Sequence[Path], output: Path, **kwargs: Any) -> Any:
        return [CompilationError(f"could not load {d}: refused") for d in dirs]

    monkeypatch.setattr(loader_module, "compile_versions", no_child)
    outcomes = ModelLoader(CompileCache(None)).load(requests)
    assert [o.servable for o in outcomes] == [None, None]
    assert all(o.error for o in outcomes)


def test_cancel_kills_a_compile_under_way_so_shutdown_does_not_wait(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (request,) = versions(model_dir, tmp_path / "mnist", 1)
    compiler_runs("exec sleep 60", tmp_path, monkeypatch)  # a compiler that would hang for a minute
    loader = ModelLoader(CompileCache(None))
    outcomes: list[Any] = []
    loading = threading.Thread(target=lambda: outcomes.extend(loader.load([request])))
    loading.start()
    deadline = time.monotonic() + GUARD_SECONDS
    while loader._child is None and time.monotonic() < deadline:
        time.sleep(0.01)
    loader.cancel()
    loading.join(GUARD_SECONDS)
    assert not loading.is_alive()
    assert outcomes[0].servable is None
    assert "stopped by signal 9" in outcomes[0].error
    # Once cancelled, nothing more is compiled: a child started now is killed at once.
    (late,) = loader.load([request])
    assert late.error is not None
    assert "stopped by signal 9" in late.error


def test_a_version_compiled_by_another_process_meanwhile_is_a_hit(
    model_dir: Path, cache_dir: Path, tmp_path: Path, children: CountingCompiler
) -> None:
    (request,) = versions(model_dir, tmp_path / "mnist", 1)
    cache = CompileCache(tmp_path / "cache")
    loader = ModelLoader(cache)
    key = version_key(request.path, loader.toolchain)
    compiled = CompileCache(cache_dir).lookup(key)[1]  # what the other process will have made
    assert compiled is not None
    outcomes: list[Any] = []
    with cache.claim([key], timeout=GUARD_SECONDS, cancelled=lambda: False):
        loading = threading.Thread(target=lambda: outcomes.extend(loader.load([request])))
        loading.start()
        loading.join(0.3)
        assert not outcomes  # waiting for the claim
        cache.store(key, compiled.artifact)
    loading.join(GUARD_SECONDS)
    assert outcomes[0].servable is not None, outcomes[0].error
    assert outcomes[0].cache is Lookup.HIT
    assert children.batches == []


def test_a_version_the_compiler_refused_is_not_compiled_again_until_it_changes(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (request,) = versions(model_dir, tmp_path / "mnist", 1)
    batches = failing_compiler(
        monkeypatch, lambda d: VersionRejectedError(f"could not load {d}: a bad signature")
    )
    loader = ModelLoader(CompileCache(tmp_path / "cache"))
    (first,) = loader.load([request])
    (again,) = loader.load([request])
    assert len(batches) == 1
    assert (first.cache, again.cache) == (Lookup.MISS, Lookup.FAILED)
    assert first.error == again.error
    assert again.error is not None
    assert "a bad signature" in again.error

    (request.path / "assets.txt").write_text("changed")  # new files: a new key, tried again
    loader.load([request])
    assert len(batches) == 2


def test_a_failure_that_may_pass_next_time_is_not_remembered(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (request,) = versions(model_dir, tmp_path / "mnist", 1)
    batches = failing_compiler(
        monkeypatch, lambda _: CompilationError("the compiler was stopped by signal 9")
    )
    loader = ModelLoader(CompileCache(tmp_path / "cache"))
    loader.load([request])
    (again,) = loader.load([request])
    assert len(batches) == 2
    assert again.cache is Lookup.MISS
