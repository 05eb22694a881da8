"""The request path's tallies expose what prometheus_client's own metrics would."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.observability.tallies import CounterTally, HistogramTally, TallyCollector

BUCKETS = (0.001, 0.01, 0.1, 1.0)


def exposed(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample but the ``_created`` timestamps, keyed by name and label set."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_a_histogram_tally_matches_prometheus_clients_histogram() -> None:
    reference_registry, tally_registry = CollectorRegistry(), CollectorRegistry()
    reference = Histogram(
        "latency", "Time.", ["route"], buckets=BUCKETS, registry=reference_registry
    )
    tally = HistogramTally("latency", "Time.", ["route"], BUCKETS)
    TallyCollector(tally_registry, tally)
    rng = random.Random(3)
    # Values on the bounds themselves too: a bucket's bound is inclusive.
    values = [*BUCKETS, 0.0, 5.0, *(rng.uniform(0, 2) for _ in range(200))]
    for value in values:
        route = rng.choice(["/predict", "/models/{name}/predict"])
        reference.labels(route).observe(value)
        tally.observe((route,), value)

    expected, found = exposed(reference_registry), exposed(tally_registry)
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        assert found[key] == pytest.approx(value), key


def test_a_counter_tally_matches_prometheus_clients_counter() -> None:
    reference_registry, tally_registry = CollectorRegistry(), CollectorRegistry()
    reference = Counter("requests", "Requests.", ["model", "version"], registry=reference_registry)
    tally = CounterTally("requests", "Requests.", ["model", "version"])
    TallyCollector(tally_registry, tally)
    counts = [("mnist", 1, 1), ("mnist", 2, 3), ("mnist", 1, 2), ("cnn", 1, 1)]
    for model, version, amount in counts:
        reference.labels(model, str(version)).inc(amount)
        tally.add((model, version), amount)  # label values need not be text until scraped

    assert exposed(tally_registry) == exposed(reference_registry)


def test_a_tally_name_that_clashes_with_a_metric_is_refused() -> None:
    registry = CollectorRegistry()
    Counter("requests", "Requests.", registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        TallyCollector(registry, CounterTally("requests", "Again.", []))
