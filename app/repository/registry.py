"""The models being served: name -> versions -> state, with leases and an atomic swap.

Everything here runs on the event loop, so a swap is a plain assignment between two requests:
a new version becomes available *before* the one it replaces leaves (TF Serving's
availability-preserving policy), and a version that leaves stops taking new requests at once but
is only closed when its last request has finished (its lease count drops to zero). Requests name
a model and optionally a version; without one they get the model's newest available version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from app.errors import ModelNotReadyError, UnknownModelError, UnknownVersionError
from app.repository.layout import FileSignature
from app.runtime.batching import MicroBatcher
from app.runtime.servable import Servable


class VersionState(StrEnum):
    """A version's life: loading -> available -> unloading, or error (with a reason)."""

    LOADING = "loading"
    AVAILABLE = "available"
    UNLOADING = "unloading"
    ERROR = "error"


@dataclass(eq=False)
class ServedVersion:
    """One version in the registry; requests hold it between :meth:`acquire` and :meth:`release`."""

    model: str
    version: int
    state: VersionState
    reason: str | None = None
    servable: Servable | None = None
    batcher: MicroBatcher | None = None
    failed_signature: FileSignature | None = None  # what failed to load, retried once it changes
    load_seconds: float | None = None
    cache: str | None = None
    in_flight: int = 0
    _idle: asyncio.Event | None = None

    def acquire(self) -> None:
        assert self.servable is not None, "only available versions are leased"
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no request holds this version."""
        if self.in_flight:
            self._idle = asyncio.Event()
            await self._idle.wait()


@dataclass(eq=False)
class ModelRecord:
    """One model: its versions and what the last scan of its folder found."""

    name: str
    path: Path
    required: bool = False
    versions: dict[int, ServedVersion] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    newest: ServedVersion | None = None  # the newest available version: where requests go

    def refresh(self) -> None:
        available = [v for v in self.versions.values() if v.state is VersionState.AVAILABLE]
        self.newest = max(available, key=lambda v: v.version) if available else None

    def available(self) -> list[int]:
        return sorted(n for n, v in self.versions.items() if v.state is VersionState.AVAILABLE)


BatcherFactory = Callable[[Servable], MicroBatcher]


def unknown_version(record: ModelRecord, version: object) -> UnknownVersionError:
    """The 404 for a version ``record`` does not have, listing the versions it has."""
    listed = ", ".join(map(str, sorted(record.versions))) or "none"
    return UnknownVersionError(
        f"model {record.name!r} has no version {version}; versions: {listed}",
        details={"model": record.name, "version": version, "versions": sorted(record.versions)},
    )


class ModelRegistry:
    """All served models; the request side (:meth:`lease`) and the loading side (the rest)."""

    def __init__(
        self,
        default_model: str,
        *,
        make_batcher: BatcherFactory | None = None,
        on_change: Callable[[ModelRecord], None] | None = None,
    ) -> None:
        self.default_model = default_model
        self.models: dict[str, ModelRecord] = {}
        self._make_batcher = make_batcher
        self._on_change = on_change

    # -- the request side --------------------------------------------------------------------
    def record_of(self, name: str | None = None) -> ModelRecord:
        """The named model (None: the default one); a 404 listing the models if there is none."""
        name = self.default_model if name is None else name
        record = self.models.get(name)
        if record is None:
            raise UnknownModelError(
                f"no model named {name!r}; models: {', '.join(sorted(self.models)) or 'none'}",
                details={"model": name, "models": sorted(self.models)},
            )
        return record

    def lease(self, name: str | None = None, version: int | None = None) -> ServedVersion:
        """The version that answers a request, acquired; the caller must ``release()`` it."""
        record = self.record_of(name)
        if version is None:
            served = record.newest
            if served is None:
                raise ModelNotReadyError(
                    f"model {record.name!r} has no version available yet",
                    details={"model": record.name, "versions": self.states(record)},
                )
        else:
            served = record.versions.get(version)
            if served is None:
                raise unknown_version(record, version)
            if served.state is not VersionState.AVAILABLE:
                why = f" ({served.reason})" if served.reason else ""
                raise ModelNotReadyError(
                    f"version {version} of model {record.name!r} is {served.state}{why}",
                    details={"model": record.name, "version": version, "state": served.state},
                )
        served.acquire()
        return served

    def states(self, record: ModelRecord) -> dict[str, str]:
        return {str(n): v.state.value for n, v in sorted(record.versions.items())}

    def missing_required(self) -> list[str]:
        """Required models with no available version (readiness waits for these)."""
        return sorted(r.name for r in self.models.values() if r.required and r.newest is None)

    def all_versions(self) -> Iterator[ServedVersion]:
        for record in self.models.values():
            yield from record.versions.values()

    # -- the loading side --------------------------------------------------------------------
    def record(self, name: str, path: Path) -> ModelRecord:
        record = self.models.get(name)
        if record is None:
            record = self.models[name] = ModelRecord(name, path)
        return record

    def set_state(
        self, name: str, version: int, state: VersionState, reason: str | None = None
    ) -> ServedVersion:
        """Enter a loading or error entry for a version that is not being served."""
        record = self.models[name]
        served = record.versions.get(version)
        if served is None or served.state not in (VersionState.LOADING, VersionState.ERROR):
            served = record.versions[version] = ServedVersion(name, version, state)
        served.state, served.reason = state, reason
        return served

    def activate(self, servable: Servable, *, seconds: float, cache: str) -> ServedVersion:
        """Make a freshly loaded version available: from now on requests may get it."""
        record = self.models[servable.name]
        batcher = self._make_batcher(servable) if self._make_batcher is not None else None
        served = ServedVersion(
            servable.name,
            servable.version,
            VersionState.AVAILABLE,
            servable=servable,
            batcher=batcher,
            load_seconds=seconds,
            cache=cache,
        )
        record.versions[servable.version] = served
        record.refresh()
        self._changed(record)
        return served

    def stop_routing(self, served: ServedVersion) -> None:
        """From now on no request gets this version (those holding it keep it)."""
        served.state = VersionState.UNLOADING
        record = self.models[served.model]
        record.refresh()
        self._changed(record)

    async def retire(self, served: ServedVersion) -> None:
        """Stop routing to a version, wait for its requests to finish, then free it."""
        if served.state is not VersionState.UNLOADING:
            self.stop_routing(served)
        await served.wait_idle()
        if served.batcher is not None:
            await served.batcher.close()
        if served.servable is not None:
            served.servable.close()
        record = self.models[served.model]
        if record.versions.get(served.version) is served:
            del record.versions[served.version]
        self._changed(record)

    def forget(self, name: str, version: int) -> None:
        """Drop a loading or error entry whose folder is gone."""
        record = self.models[name]
        served = record.versions.get(version)
        if served is not None and served.state in (VersionState.ERROR, VersionState.LOADING):
            del record.versions[version]

    def _changed(self, record: ModelRecord) -> None:
        if self._on_change is not None:
            self._on_change(record)
