"""Counters and histograms for the request path, exported through a Prometheus collector.

prometheus_client's ``Counter`` and ``Histogram`` may be shared by threads, so every update
takes a lock behind two method layers: ~1 µs each, and a prediction makes six of them, a few per
cent of its time. Everything on the request path runs on the event loop's one thread (the
middleware, the data plane, the micro-batcher's callback), so these tallies are plain integers
in dicts that only that thread writes. A scrape reads them from whichever thread it runs on and
turns them into metric families; a series it reads is at worst one update behind.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

# How prometheus_client writes a bucket's bound ("0.005", "1.0"); untyped upstream.
bound_text: Callable[[float], str] = floatToGoString


def _as_text(key: tuple[Hashable, ...]) -> Sequence[str]:
    return [str(value) for value in key]


class CounterTally:
    """A counter by label values, keyed by any hashable values (made text when scraped)."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, list(labelnames)
        self.counts: dict[tuple[Hashable, ...], int] = {}

    def add(self, key: tuple[Hashable, ...], amount: int = 1) -> None:
        """Count ``amount`` more for the series ``key`` (one value per label name)."""
        counts = self.counts
        counts[key] = counts.get(key, 0) + amount

    def family(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, count in list(self.counts.items()):
            family.add_metric(_as_text(key), count)
        return family


@dataclass(slots=True)
class _Series:
    counts: list[int]  # per bucket, not cumulative; the last is +Inf
    total: float = field(default=0.0)


class HistogramTally:
    """A histogram by label values with fixed bucket bounds (each an upper bound, inclusive)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, list(labelnames)
        self.bounds = sorted(float(bound) for bound in buckets)
        self.series: dict[tuple[Hashable, ...], _Series] = {}

    def observe(self, key: tuple[Hashable, ...], value: float) -> None:
        """Record one observation of the series ``key``."""
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = _Series([0] * (len(self.bounds) + 1))
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le = "<=").
        series.counts[bisect.bisect_left(self.bounds, value)] += 1
        series.total += value

    def family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        names = [bound_text(bound) for bound in self.bounds] + ["+Inf"]
        for key, series in list(self.series.items()):
            cumulative, buckets = 0, []
            for name, count in zip(names, list(series.counts), strict=True):
                cumulative += count
                buckets.append((name, float(cumulative)))
            family.add_metric(_as_text(key), buckets, series.total)
        return family


class TallyCollector(Collector):
    """Exposes tallies on a registry, as if they were prometheus_client metrics."""

    def __init__(
        self, registry: CollectorRegistry, *tallies: CounterTally | HistogramTally
    ) -> None:
        self.tallies = tallies
        registry.register(self)

    def describe(self) -> Iterator[Metric]:
        # Names only: the registry checks them for clashes with the other metrics.
        for tally in self.tallies:
            kind = CounterMetricFamily if isinstance(tally, CounterTally) else HistogramMetricFamily
            yield kind(tally.name, tally.documentation, labels=tally.labelnames)

    def collect(self) -> Iterator[Metric]:
        for tally in self.tallies:
            yield tally.family()
