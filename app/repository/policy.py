"""Which versions of a model to serve: TensorFlow Serving's ``model_version_policy``, as a string.

``latest`` (the newest version), ``latest:N`` (the N newest), ``all`` or ``specific:1,3``. The
policy picks among the versions that can be served: complete on disk and not known to be broken,
so a broken newest version leaves the one before it in service instead of leaving none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_LATEST = re.compile(r"latest(?::(\d+))?")
_SPECIFIC = re.compile(r"specific:(\d+(?:,\d+)*)")


class PolicyError(ValueError):
    """The policy string is not one of the forms the service understands."""


@dataclass(frozen=True)
class VersionPolicy:
    """``latest`` keeps the ``count`` newest versions; otherwise ``versions`` (None: all)."""

    kind: str  # "latest" | "all" | "specific"
    count: int = 1
    versions: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        """``latest``, ``latest:N``, ``all`` or ``specific:1,3``; :class:`PolicyError` otherwise."""
        value = text.strip().lower().replace(" ", "")
        if value == "all":
            return cls("all")
        if match := _LATEST.fullmatch(value):
            count = int(match.group(1) or 1)
            if count < 1:
                raise PolicyError(f"latest:N needs N >= 1 (received {text!r})")
            return cls("latest", count=count)
        if match := _SPECIFIC.fullmatch(value):
            versions = frozenset(int(part) for part in match.group(1).split(","))
            if 0 in versions:
                raise PolicyError(f"versions are positive integers (received {text!r})")
            return cls("specific", versions=versions)
        raise PolicyError(
            f"unknown version policy {text!r}: use latest, latest:N, all or specific:1,3"
        )

    def select(self, servable: Iterable[int]) -> frozenset[int]:
        """The versions to serve out of those that can be served."""
        candidates = sorted(set(servable))
        if self.kind == "latest":
            return frozenset(candidates[-self.count :])
        if self.kind == "specific":
            return frozenset(v for v in candidates if v in self.versions)
        return frozenset(candidates)

    def __str__(self) -> str:
        if self.kind == "latest":
            return "latest" if self.count == 1 else f"latest:{self.count}"
        if self.kind == "specific":
            return "specific:" + ",".join(map(str, sorted(self.versions)))
        return "all"
