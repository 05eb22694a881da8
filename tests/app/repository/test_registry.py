"""The registry: leases, the errors requests get, and unloading after the last request."""

from __future__ import annotations

from pathlib import Path

import anyio
import numpy as np
import pytest

from app import errors
from app.repository.registry import ModelRegistry, VersionState
from app.runtime.loader import LoadRequest
from tests.app.repository.fakes import FakeLoader, OneHotModel, write_version

pytestmark = pytest.mark.anyio


def registry_with(tmp_path: Path, *versions: int) -> ModelRegistry:
    registry = ModelRegistry("mnist")
    registry.record("mnist", tmp_path / "mnist")
    requests = [LoadRequest("mnist", v, write_version(tmp_path, "mnist", v)) for v in versions]
    for outcome in FakeLoader().load(requests):
        assert outcome.servable is not None
        registry.activate(outcome.servable, seconds=0.0, cache="hit")
    return registry


async def test_requests_get_the_newest_available_version_or_the_one_named(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, 1, 3, 2)
    served = registry.lease()
    assert (served.model, served.version, served.in_flight) == ("mnist", 3, 1)
    served.release()
    assert served.in_flight == 0
    pinned = registry.lease("mnist", 1)
    assert pinned.version == 1
    pinned.release()


async def test_unknown_models_and_versions_are_404s_that_list_what_exists(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, 1, 2)
    with pytest.raises(errors.UnknownModelError, match="no model named 'mnist-xl'; models: mnist"):
        registry.lease("mnist-xl")
    with pytest.raises(errors.UnknownVersionError, match="no version 7; versions: 1, 2") as caught:
        registry.lease("mnist", 7)
    assert caught.value.status == 404
    assert caught.value.details["versions"] == [1, 2]


async def test_versions_not_available_are_503s_with_their_state(tmp_path: Path) -> None:
    registry = registry_with(tmp_path)
    registry.set_state("mnist", 4, VersionState.ERROR, "could not load: truncated")
    with pytest.raises(errors.ModelNotReadyError, match="no version available yet"):
        registry.lease()
    with pytest.raises(errors.ModelNotReadyError, match="is error \\(could not load: truncated\\)"):
        registry.lease("mnist", 4)


async def test_a_retired_version_takes_no_new_requests_and_closes_after_the_last(
    tmp_path: Path,
) -> None:
    registry = registry_with(tmp_path, 1, 2)
    old = registry.lease("mnist", 1)
    newest = registry.models["mnist"].versions[2]
    async with anyio.create_task_group() as group:
        group.start_soon(registry.retire, old)
        await anyio.sleep(0.01)
        assert old.state is VersionState.UNLOADING
        with pytest.raises(errors.ModelNotReadyError, match="is unloading"):
            registry.lease("mnist", 1)
        assert old.servable is not None
        model: object = old.servable._model
        assert isinstance(model, OneHotModel)
        assert not model.closed  # still answering the request it accepted
        assert old.servable.predict(np.zeros((1, 28, 28), np.uint8)).digits.tolist() == [1]
        old.release()
    assert isinstance(model, OneHotModel)
    assert model.closed
    assert sorted(registry.models["mnist"].versions) == [2]
    assert registry.models["mnist"].newest is newest


async def test_readiness_waits_for_required_models_only(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, 1)
    registry.models["mnist"].required = True
    registry.record("mnist-cnn", tmp_path / "mnist-cnn").required = True
    registry.record("extra", tmp_path / "extra")
    assert registry.missing_required() == ["mnist-cnn"]
