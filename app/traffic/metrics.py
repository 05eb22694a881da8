"""The admission budgets as Prometheus metrics, read when scraped (nothing per request)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from app.traffic.admission import Admission


class AdmissionCollector(Collector):
    """Bytes in use, capacity, waiters and refusals of each budget (bodies, decoding)."""

    def __init__(self, admission: Admission) -> None:
        self.budgets = {"bodies": admission.bodies, "decoding": admission.decoding}

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        in_use = GaugeMetricFamily(
            "mnist_inflight_bytes", "Bytes of the memory budget in use.", labels=["budget"]
        )
        capacity = GaugeMetricFamily(
            "mnist_inflight_capacity_bytes", "Size of the memory budget.", labels=["budget"]
        )
        waiting = GaugeMetricFamily(
            "mnist_inflight_waiting", "Requests waiting for room in the budget.", labels=["budget"]
        )
        refused = CounterMetricFamily(
            "mnist_overloaded",
            "Requests refused with 503 overloaded after waiting for room.",
            labels=["budget"],
        )
        for name, budget in self.budgets.items():
            in_use.add_metric([name], budget.in_use)
            capacity.add_metric([name], budget.capacity)
            waiting.add_metric([name], budget.waiting)
            refused.add_metric([name], budget.refused)
        yield from (in_use, capacity, waiting, refused)


def register(admission: Admission, registry: CollectorRegistry) -> None:
    registry.register(AdmissionCollector(admission))
