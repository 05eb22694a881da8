"""Loading model versions: the compile cache first, one compiler child for all the misses.

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
        to_compile: list[tuple[int, str, Lookup]] = []
        for index, request in enumerate(requests):
            try:
                key = version_key(request.path, self.toolchain)
            except OSError as exc:
                outcomes[index] = _failed(request, f"unreadable: {exc}", Lookup.MISS, started)
                continue
            lookup, entry = self.cache.lookup(key)
            if entry is not None:
                try:
                    servable = bind_artifact(
                        request.name, request.version, request.path, entry.data
                    )
                except ModelLoadError as exc:
                    # A hit whose artifact fails the checks is no hit: rebuild it.
                    logger.warning("cached artifact failed its checks", extra={"reason": str(exc)})
                    self.cache.discard(key)
                    to_compile.append((index, key, Lookup.REJECTED))
                    continue
                outcomes[index] = LoadOutcome(request, servable, None, Lookup.HIT, _since(started))
            else:
                to_compile.append((index, key, lookup))
        if to_compile:
            self._compile(requests, to_compile, outcomes, started)
        return [outcomes[index] for index in range(len(requests))]

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
