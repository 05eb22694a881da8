"""The watcher keeps the registry in step with the disk: policies, polling, faults, start-up."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest

from app.errors import UnknownModelError
from app.repository.policy import VersionPolicy
from app.repository.registry import ModelRegistry, VersionState
from app.repository.watcher import RepositoryWatcher
from app.runtime.servable import ModelLoadError
from tests.app.repository.fakes import FakeLoader, OneHotModel, remove_version, write_version

pytestmark = pytest.mark.anyio
GUARD_SECONDS = 10  # a hang guard for polling tests, not a speed target


def watcher(root: Path, policy: str = "latest", **options: Any) -> RepositoryWatcher:
    loader = FakeLoader()
    return RepositoryWatcher(
        root,
        ModelRegistry(options.pop("default", "mnist")),
        loader,  # type: ignore[arg-type]
        policy=VersionPolicy.parse(policy),
        poll_seconds=options.pop("poll_seconds", 0),
        **options,
    )


def states(watched: RepositoryWatcher, model: str = "mnist") -> dict[int, str]:
    record = watched.registry.models[model]
    return {n: v.state.value for n, v in sorted(record.versions.items())}


def served(watched: RepositoryWatcher, model: str = "mnist") -> int | None:
    newest = watched.registry.models[model].newest
    return newest.version if newest is not None else None


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("latest", [3]), ("latest:2", [2, 3]), ("all", [1, 2, 3]), ("specific:1,3", [1, 3])],
)
async def test_each_policy_loads_its_versions(
    tmp_path: Path, policy: str, expected: list[int]
) -> None:
    for version in (1, 2, 3):
        write_version(tmp_path, "mnist", version)
    watched = watcher(tmp_path, policy)
    await watched.start()
    assert watched.registry.models["mnist"].available() == expected
    assert served(watched) == expected[-1]
    await watched.close()


async def test_one_compiler_batch_for_every_model_at_start(tmp_path: Path) -> None:
    for model in ("mnist", "mnist-mlp", "mnist-cnn"):
        write_version(tmp_path, model, 1)
    watched = watcher(tmp_path)
    await watched.start()
    loader = watched.loader
    assert isinstance(loader, FakeLoader)
    assert len(loader.calls) == 1
    assert len(loader.calls[0]) == 3
    assert watched.registry.missing_required() == []
    await watched.close()


async def test_a_new_version_is_swapped_in_and_the_old_one_retired(tmp_path: Path) -> None:
    write_version(tmp_path, "mnist", 1)
    watched = watcher(tmp_path)
    await watched.start()
    old = watched.registry.models["mnist"].versions[1]
    write_version(tmp_path, "mnist", 2)
    await watched.reconcile()
    assert served(watched) == 2
    await anyio.sleep(0)  # let the retirement task run
    assert states(watched) == {2: "available"}
    assert old.servable is not None
    assert isinstance(old.servable._model, OneHotModel)
    assert old.servable._model.closed
    await watched.close()


async def test_removing_the_newest_version_rolls_back_without_a_gap(tmp_path: Path) -> None:
    write_version(tmp_path, "mnist", 1)
    write_version(tmp_path, "mnist", 2)
    watched = watcher(tmp_path)
    await watched.start()
    assert states(watched) == {2: "available"}
    remove_version(tmp_path, "mnist", 2)
    await watched.reconcile()
    # Version 1 was loaded before version 2 left: some version was available all along.
    assert served(watched) == 1
    await anyio.sleep(0)
    assert states(watched) == {1: "available"}
    await watched.close()


async def test_a_broken_version_never_replaces_a_good_one_and_is_retried_when_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_version(tmp_path, "mnist", 1)
    watched = watcher(tmp_path)
    await watched.start()
    write_version(tmp_path, "mnist", 2, "broken: truncated variables")
    with caplog.at_level(logging.ERROR, logger="app.repository"):
        await watched.reconcile()
        await watched.reconcile()  # unchanged: not retried, not logged again
    assert states(watched) == {1: "available", 2: "error"}
    assert watched.registry.models["mnist"].versions[2].reason == "broken: truncated variables"
    assert served(watched) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["model version failed to load"]
    loader = watched.loader
    assert isinstance(loader, FakeLoader)
    attempts = sum(("mnist", 2) in call for call in loader.calls)
    assert attempts == 1

    write_version(tmp_path, "mnist", 2, "ok, copied again")
    await watched.reconcile()
    assert served(watched) == 2
    await anyio.sleep(0)
    assert states(watched) == {2: "available"}
    await watched.close()


async def test_an_incomplete_version_is_shown_and_not_attempted(tmp_path: Path) -> None:
    write_version(tmp_path, "mnist", 1)
    (tmp_path / "mnist" / "2" / "variables").mkdir(parents=True)  # a copy under way
    watched = watcher(tmp_path)
    await watched.start()
    assert states(watched) == {1: "available", 2: "error"}
    reason = watched.registry.models["mnist"].versions[2].reason
    assert reason is not None
    assert "no saved_model.pb" in reason
    loader = watched.loader
    assert isinstance(loader, FakeLoader)
    assert loader.calls == [[("mnist", 1)]]
    write_version(tmp_path, "mnist", 2)  # the copy finishes
    await watched.reconcile()
    assert served(watched) == 2
    await watched.close()


async def test_entries_that_are_not_versions_are_reported(tmp_path: Path) -> None:
    write_version(tmp_path, "mnist", 1)
    for name in ("latest", "0", "007"):
        (tmp_path / "mnist" / name).mkdir()
    watched = watcher(tmp_path)
    await watched.start()
    assert sorted(watched.registry.models["mnist"].ignored) == ["0", "007", "latest"]
    await watched.close()


async def test_a_vanished_model_folder_keeps_its_versions_served(tmp_path: Path) -> None:
    write_version(tmp_path, "mnist", 1)
    write_version(tmp_path, "other", 1)
    watched = watcher(tmp_path)
    await watched.start()
    shutil.rmtree(tmp_path / "other")
    await watched.reconcile()
    record = watched.registry.models["other"]
    assert record.problem is not None
    assert "does not exist" in record.problem
    assert served(watched, "other") == 1
    # Every version folder removed, the model folder left: the same, nothing to offer instead.
    remove_version(tmp_path, "mnist", 1)
    await watched.reconcile()
    assert served(watched) == 1
    await watched.close()


async def test_a_model_added_while_running_is_served_but_not_required(tmp_path: Path) -> None:
    write_version(tmp_path, "mnist", 1)
    watched = watcher(tmp_path)
    await watched.start()
    write_version(tmp_path, "mnist-cnn", 1)
    await watched.reconcile()
    assert served(watched, "mnist-cnn") == 1
    assert not watched.registry.models["mnist-cnn"].required
    await watched.close()


async def test_the_models_setting_restricts_what_is_served(tmp_path: Path) -> None:
    for model in ("mnist", "mnist-cnn", "experimental"):
        write_version(tmp_path, model, 1)
    watched = watcher(tmp_path, names=["mnist", "mnist-cnn"])
    await watched.start()
    write_version(tmp_path, "later", 1)
    await watched.reconcile()
    assert sorted(watched.registry.models) == ["mnist", "mnist-cnn"]
    await watched.close()


async def test_at_start_a_broken_newest_version_falls_back_to_the_one_before(
    tmp_path: Path,
) -> None:
    write_version(tmp_path, "mnist", 1)
    write_version(tmp_path, "mnist", 2, "broken: bad signature")
    watched = watcher(tmp_path)
    await watched.start()
    assert states(watched) == {1: "available", 2: "error"}
    await watched.close()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("empty", "the default model 'mnist' is not in the repository"),
        ("no versions", "model 'mnist': no versions in"),
        ("all broken", "model 'mnist' has no servable version (version 1: broken: nope)"),
    ],
)
async def test_start_up_fails_in_one_sentence_without_a_servable_required_model(
    tmp_path: Path, setup: str, message: str
) -> None:
    if setup == "no versions":
        (tmp_path / "mnist").mkdir()
    elif setup == "all broken":
        write_version(tmp_path, "mnist", 1, "broken: nope")
    watched = watcher(tmp_path)
    with pytest.raises(ModelLoadError) as caught:
        await watched.start()
    assert message in str(caught.value)


async def test_polling_picks_up_new_versions_and_outlives_a_failing_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_version(tmp_path, "mnist", 1)
    watched = watcher(tmp_path, poll_seconds=0.01)
    await watched.start()
    loader = watched.loader
    assert isinstance(loader, FakeLoader)
    real_load = loader.load
    failures = [RuntimeError("a bug in one pass")]

    def flaky(requests: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_load(requests)

    monkeypatch.setattr(loader, "load", flaky)
    write_version(tmp_path, "mnist", 2)
    with anyio.fail_after(GUARD_SECONDS):
        while served(watched) != 2:
            await anyio.sleep(0.01)
    assert failures == []  # the failing pass happened, and polling went on
    await watched.close()
    assert watched._poller is not None
    assert watched._poller.done()


async def test_close_unloads_everything(tmp_path: Path) -> None:
    write_version(tmp_path, "mnist", 1)
    watched = watcher(tmp_path, "all")
    write_version(tmp_path, "mnist", 2)
    await watched.start()
    models = [v.servable._model for v in watched.registry.all_versions() if v.servable]
    await watched.close()
    loader = watched.loader
    assert isinstance(loader, FakeLoader)
    assert loader.cancelled  # a compile under way is stopped, not waited for
    assert all(isinstance(m, OneHotModel) and m.closed for m in models)
    assert watched.registry.models["mnist"].versions == {}


async def test_a_version_folder_changed_in_place_keeps_serving_what_was_loaded(
    tmp_path: Path,
) -> None:
    folder = write_version(tmp_path, "mnist", 1)
    watched = watcher(tmp_path)
    await watched.start()
    (folder / "saved_model.pb").write_text("broken: overwritten while served")
    os.utime(folder / "saved_model.pb")
    await watched.reconcile()
    assert states(watched) == {1: "available"}
    await watched.close()


async def test_state_names_are_the_documented_ones() -> None:
    assert [s.value for s in VersionState] == ["loading", "available", "unloading", "error"]


async def test_unload_retires_a_model_until_it_is_loaded_again(tmp_path: Path) -> None:
    for model in ("mnist", "spare"):
        write_version(tmp_path, model, 1)
    watched = watcher(tmp_path, names=["mnist"])  # "spare" is outside MNIST_MODELS
    await watched.start()
    assert "spare" not in watched.registry.models
    with pytest.raises(UnknownModelError):
        await watched.load("nothing-here")

    await watched.load("spare")  # loaded on request though not listed
    assert served(watched, "spare") == 1
    await watched.reconcile()  # a poll keeps it
    assert served(watched, "spare") == 1

    await watched.unload("mnist")
    await anyio.sleep(0)  # let the retirement run (no request holds the version)
    assert served(watched, "mnist") is None
    assert watched.registry.missing_required() == []  # an unloaded model is not waited for
    write_version(tmp_path, "mnist", 2)
    await watched.reconcile()  # polling leaves an unloaded model alone
    assert served(watched, "mnist") is None

    await watched.load("mnist")
    assert served(watched, "mnist") == 2
    await watched.close()


async def test_load_right_after_unload_waits_for_the_requests_still_running(
    tmp_path: Path,
) -> None:
    write_version(tmp_path, "mnist", 1)
    watched = watcher(tmp_path)
    await watched.start()
    lease = watched.registry.lease("mnist")  # a request still under way
    await watched.unload("mnist")
    loading = asyncio.create_task(watched.load("mnist"))
    await anyio.sleep(0.05)
    assert not loading.done()  # waits for the request, rather than failing to plan a load
    lease.release()
    with anyio.fail_after(GUARD_SECONDS):
        await loading
    assert served(watched) == 1
    await watched.close()
