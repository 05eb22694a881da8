"""Keeping the registry in step with the repository on disk: scan, load, swap, retire.

Each :meth:`RepositoryWatcher.reconcile` scans the folders, applies the version policy to the
versions that can be served (complete, and not known to be broken), loads the versions the
policy wants that are not loaded yet (all of them in one compiler child), makes them available,
and only then retires the versions the policy no longer wants. A version that fails to load is
marked ``error`` with its reason, logged once, and retried when its files change; while the
policy has nothing available to offer for a model (its folder vanished, every new version is
broken), the versions already served stay served. At start-up the first reconcile runs before
the server accepts requests; after that it runs every ``poll_seconds`` in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from pathlib import Path

import anyio.to_thread

from app.observability.metrics import Metrics
from app.repository.layout import ModelFolder, model_names, scan_models
from app.repository.policy import VersionPolicy
from app.repository.registry import ModelRecord, ModelRegistry, ServedVersion, VersionState
from app.runtime.loader import LoadRequest, ModelLoader
from app.runtime.servable import ModelLoadError

logger = logging.getLogger("app.repository")
_CHANGED_WHILE_LOADING = (
    "its folder was removed or changed while it loaded; tried again once its files stay put"
)


class RepositoryWatcher:
    """Loads and unloads versions so the registry serves what the repository and policy say."""

    def __init__(
        self,
        root: Path,
        registry: ModelRegistry,
        loader: ModelLoader,
        *,
        policy: VersionPolicy,
        names: list[str] | None = None,
        poll_seconds: float = 2.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.root = root
        self.registry = registry
        self.loader = loader
        self.policy = policy
        self.names = names  # None: every model folder found, now and later
        self.poll_seconds = poll_seconds
        self.metrics = metrics
        self.unloaded: set[str] = set()  # unloaded on request: not served until loaded again
        self.loaded: set[str] = set()  # loaded on request though not in ``names``
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Load the repository once; :class:`ModelLoadError` if a required model has no version."""
        names = self.names if self.names is not None else model_names(self.root)
        if self.registry.default_model not in names:
            found = ", ".join(names) or "none"
            raise ModelLoadError(
                f"the default model {self.registry.default_model!r} is not in the repository"
                f" {self.root} (models: {found}); expected {self.root}/<model>/<version>/"
            )
        for name in names:
            self.registry.record(name, self.root / name).required = True
        await self.reconcile()
        problems = [
            self._why_unavailable(self.registry.models[n]) for n in self.registry.missing_required()
        ]
        if problems:
            raise ModelLoadError("; ".join(problems))
        if self.poll_seconds > 0:
            self._poller = asyncio.create_task(self._poll(), name="repository-poller")

    async def close(self) -> None:
        """Stop polling and retire every version (each after its last request)."""
        self.loader.cancel()  # a compile under way would otherwise hold up the shutdown
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        async with self._lock:
            for served in list(self.registry.all_versions()):
                if served.state is VersionState.AVAILABLE:
                    self._retire_later(served)
            if self._retiring:
                await asyncio.gather(*self._retiring, return_exceptions=True)

    async def reconcile(self) -> None:
        """One pass: scan, load what the policy wants, swap it in, retire what it does not want."""
        async with self._lock:
            names = self.names if self.names is not None else model_names(self.root)
            names = sorted((set(names) | set(self.registry.models) | self.loaded) - self.unloaded)
            folders = await anyio.to_thread.run_sync(scan_models, self.root, names)
            for folder in folders.values():
                self._observe(folder)
            # A broken version makes room for the next one down; each pass fails or loads at
            # least one version, so this ends.
            while plan := self._plan(folders):
                await self._load(plan, folders)
            for folder in folders.values():
                self._retire_unwanted(folder)

    async def load(self, name: str) -> ModelRecord:
        """Serve ``name`` (again): load what the policy wants of it now, as a poll would."""
        if name not in self.registry.models and name not in model_names(self.root):
            self.registry.record_of(name)  # the 404 listing the models
        self.unloaded.discard(name)
        self.loaded.add(name)
        if self._retiring:  # an unload still waiting for its requests: let it finish first
            await asyncio.gather(*list(self._retiring), return_exceptions=True)
        await self.reconcile()
        return self.registry.record_of(name)

    async def unload(self, name: str) -> None:
        """Stop serving ``name``: every version retires after its requests, until :meth:`load`."""
        record = self.registry.record_of(name)
        async with self._lock:
            self.unloaded.add(name)
            self.loaded.discard(name)
            record.required = False  # readiness no longer waits for it
            for served in list(record.versions.values()):
                if served.state is VersionState.AVAILABLE:
                    self._retire_later(served)

    def _wanted(self, folder: ModelFolder) -> frozenset[int]:
        record = self.registry.models[folder.name]
        servable = []
        for number in folder.complete_versions:
            entry = record.versions.get(number)
            signature = folder.versions[number].signature
            if (
                entry is not None
                and entry.state is VersionState.ERROR
                and entry.failed_signature == signature
            ):
                continue  # failed before, unchanged since
            servable.append(number)
        return self.policy.select(servable)

    def _plan(self, folders: dict[str, ModelFolder]) -> list[LoadRequest]:
        plan = []
        for folder in folders.values():
            record = self.registry.models[folder.name]
            for number in sorted(self._wanted(folder)):
                entry = record.versions.get(number)
                if entry is None or entry.state is VersionState.ERROR:
                    plan.append(LoadRequest(folder.name, number, folder.versions[number].path))
        return plan

    async def _load(self, plan: list[LoadRequest], folders: dict[str, ModelFolder]) -> None:
        for request in plan:
            self.registry.set_state(request.name, request.version, VersionState.LOADING)
        try:
            outcomes = await anyio.to_thread.run_sync(self.loader.load, plan)
        except BaseException as exc:
            # No failed signature: these versions are tried again at the next pass.
            for request in plan:
                reason = f"loading was interrupted: {type(exc).__name__}: {exc}"
                self.registry.set_state(request.name, request.version, VersionState.ERROR, reason)
            raise
        # A folder may have changed while it loaded (removed, replaced, still being copied):
        # what was loaded is then not what is on disk, so it is not swapped in.
        names = sorted({request.name for request in plan})
        now = await anyio.to_thread.run_sync(scan_models, self.root, names)
        for outcome in outcomes:
            request = outcome.request
            scanned = folders[request.name].versions[request.version].signature
            current = now.get(request.name)
            still = current.versions.get(request.version) if current is not None else None
            if outcome.servable is not None and (still is None or still.signature != scanned):
                outcome.servable.close()
                outcome = dataclasses.replace(outcome, servable=None, error=_CHANGED_WHILE_LOADING)
            if self.metrics is not None:
                self.metrics.observe_load(
                    request.name, outcome.seconds, outcome.cache, outcome.error is None
                )
            if outcome.servable is not None:
                self.registry.activate(
                    outcome.servable, seconds=outcome.seconds, cache=outcome.cache
                )
                logger.info(
                    "model version available",
                    extra={
                        "model": request.name,
                        "version": request.version,
                        "seconds": round(outcome.seconds, 3),
                        "cache": outcome.cache.value,
                    },
                )
                continue
            served = self.registry.set_state(
                request.name, request.version, VersionState.ERROR, outcome.error
            )
            served.failed_signature = folders[request.name].versions[request.version].signature
            logger.error(
                "model version failed to load",
                extra={"model": request.name, "version": request.version, "reason": outcome.error},
            )

    def _observe(self, folder: ModelFolder) -> None:
        """Record what the scan found: problems and ignored entries (logged once each)."""
        record = self.registry.record(folder.name, folder.path)
        if folder.problem != record.problem and folder.problem is not None:
            logger.warning(
                "model folder problem; serving what is loaded",
                extra={"model": folder.name, "reason": folder.problem},
            )
        record.problem = folder.problem
        for name, reason in folder.ignored.items():
            if name not in record.ignored:
                logger.warning(
                    "entry ignored", extra={"model": folder.name, "entry": name, "reason": reason}
                )
        record.ignored = dict(folder.ignored)
        for number, version in folder.versions.items():
            entry = record.versions.get(number)
            if version.problem is not None and (entry is None or entry.state is VersionState.ERROR):
                if entry is None or entry.reason != version.problem:
                    logger.warning(
                        "model version not loadable",
                        extra={"model": folder.name, "version": number, "reason": version.problem},
                    )
                self.registry.set_state(folder.name, number, VersionState.ERROR, version.problem)
        for number, entry in list(record.versions.items()):
            if number not in folder.versions and entry.state is VersionState.ERROR:
                self.registry.forget(folder.name, number)

    def _retire_unwanted(self, folder: ModelFolder) -> None:
        record = self.registry.models[folder.name]
        wanted = self._wanted(folder)
        available = set(record.available())
        if not wanted & available:
            return  # nothing wanted is available: keep serving what there is
        for number in sorted(available - wanted):
            self._retire_later(record.versions[number])

    def _retire_later(self, served: ServedVersion) -> None:
        logger.info(
            "model version unloading", extra={"model": served.model, "version": served.version}
        )
        self.registry.stop_routing(served)  # at once, so the swap is one step
        task = asyncio.create_task(self.registry.retire(served))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.reconcile()
            except Exception:  # the poller must outlive any one bad pass
                logger.exception("repository poll failed; retrying at the next interval")

    @staticmethod
    def _why_unavailable(record: ModelRecord) -> str:
        if record.problem is not None:
            return f"model {record.name!r}: {record.problem}"
        reasons = [
            f"version {n}: {v.reason}" for n, v in sorted(record.versions.items()) if v.reason
        ]
        if not reasons:
            return f"model {record.name!r}: no versions in {record.path}/<version>/saved_model.pb"
        return f"model {record.name!r} has no servable version ({'; '.join(reasons)})"
