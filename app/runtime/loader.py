"""Loading model versions: the compile cache first, one compiler child for all the misses.

The misses are claimed first (:mod:`.claims`): a process sharing the cache that is compiling the
same versions is waited for, and its entries are then hits. A version the compiler refused is
remembered by the cache, so a restart does not import TensorFlow only to refuse it again.
:meth:`ModelLoader.load` is blocking (the repository watcher runs it in a worker thread). Every
version ends as a servable or as an error with its reason; one bad version never fails another.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.runtime.cache import CompileCache, Lookup, toolchain, version_key
from app.runtime.compiler import compile_versions
from app.runtime.litert import VersionRejectedError
from app.runtime.servable import ModelLoadError, Servable, bind_artifact

logger = logging.getLogger("app.loader")


@dataclass(frozen=True)
class LoadRequest:
    """A version to load: model name, version number and its folder."""

    name: str
    version: int
    path: Path


@dataclass(frozen=True)
class LoadOutcome:
    """How loading one version ended."""

    request: LoadRequest
    servable: Servable | None
    error: str | None
    cache: Lookup
    seconds: float


class ModelLoader:
    """Turns version folders into servables through the compile cache."""

    def __init__(self, cache: CompileCache, *, compile_timeout: float = 300.0) -> None:
        self.cache = cache
        self.compile_timeout = compile_timeout
        self.toolchain = toolchain()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[str] | None = None
        self._cancelled = False

    def cancel(self) -> None:
        """Kill a compiler child that is running; no other is started (the server is stopping)."""
        with self._lock:
            self._cancelled = True
            if self._child is not None and self._child.poll() is None:
                self._child.kill()

    def _track(self, child: subprocess.Popen[str]) -> None:
        with self._lock:
            self._child = child
            if self._cancelled:
                child.kill()

    def load(self, requests: Sequence[LoadRequest]) -> list[LoadOutcome]:
        """Load every request; the misses are compiled together, importing TensorFlow once."""
        started = time.perf_counter()
        outcomes: dict[int, LoadOutcome] = {}
        misses: dict[int, tuple[str, Lookup]] = {}
        for index, request in enumerate(requests):
            try:
                key = version_key(request.path, self.toolchain)
            except OSError as exc:
                outcomes[index] = _failed(request, f"unreadable: {exc}", Lookup.MISS, started)
                continue
            lookup = self._from_cache(index, request, key, outcomes, started)
            if lookup is not None:
                misses[index] = (key, lookup)
        if misses:
            keys = [key for key, _ in misses.values()]
            with self.cache.claim(keys, timeout=self.compile_timeout, cancelled=self._is_cancelled):
                # While this process waited for its claims, another may have compiled them.
                to_compile = []
                for index, (key, lookup) in misses.items():
                    if lookup is Lookup.REJECTED or (
                        self._from_cache(index, requests[index], key, outcomes, started) is not None
                    ):
                        to_compile.append((index, key, lookup))
                if to_compile:
                    self._compile(requests, to_compile, outcomes, started)
        return [outcomes[index] for index in range(len(requests))]

    def _is_cancelled(self) -> bool:
        return self._cancelled

    def _from_cache(
        self,
        index: int,
        request: LoadRequest,
        key: str,
        outcomes: dict[int, LoadOutcome],
        started: float,
    ) -> Lookup | None:
        """Record the outcome the cache decides (a hit, a remembered refusal) and return None;
        else return why it is no hit."""
        lookup, entry = self.cache.lookup(key)
        if entry is None:
            reason = self.cache.failure(key) if lookup is Lookup.MISS else None
            if reason is None:
                return lookup
            outcomes[index] = _failed(request, reason, Lookup.FAILED, started)
            return None
        try:
            servable = bind_artifact(request.name, request.version, request.path, entry.data)
        except ModelLoadError as exc:
            # A hit whose artifact fails the checks is no hit: rebuild it.
            logger.warning("cached artifact failed its checks", extra={"reason": str(exc)})
            self.cache.discard(key)
            return Lookup.REJECTED
        outcomes[index] = LoadOutcome(request, servable, None, Lookup.HIT, _since(started))
        return None

    def _compile(
        self,
        requests: Sequence[LoadRequest],
        to_compile: list[tuple[int, str, Lookup]],
        outcomes: dict[int, LoadOutcome],
        started: float,
    ) -> None:
        with tempfile.TemporaryDirectory(prefix="mnist-compile-") as workdir:
            paths = [requests[index].path for index, _, _ in to_compile]
            results = compile_versions(
                paths, Path(workdir), timeout=self.compile_timeout, on_start=self._track
            )
            for (index, key, lookup), result in zip(to_compile, results, strict=True):
                request = requests[index]
                if isinstance(result, Exception):
                    if isinstance(result, VersionRejectedError):
                        self.cache.record_failure(key, str(result))
                    outcomes[index] = _failed(request, str(result), lookup, started)
                    continue
                entry = self.cache.store(key, result)
                try:
                    artifact = entry.data if entry is not None else result.read_bytes()
                    servable = bind_artifact(request.name, request.version, request.path, artifact)
                except (ModelLoadError, OSError) as exc:
                    self.cache.discard(key)
                    outcomes[index] = _failed(request, str(exc), lookup, started)
                    continue
                outcomes[index] = LoadOutcome(request, servable, None, lookup, _since(started))


def _failed(request: LoadRequest, reason: str, lookup: Lookup, started: float) -> LoadOutcome:
    return LoadOutcome(request, None, reason, lookup, _since(started))


def _since(started: float) -> float:
    return time.perf_counter() - started
