"""Prometheus metrics, all named reconciler_*, in a registry of the service's own.

Counters and durations are this process's (Prometheus sums replicas); drifted objects and
the last successful drift are read from the run history at scrape time, so every replica
reports the fleet as the history knows it, whichever replica ran it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from reconciler.history.model import parse_time
from reconciler.providers import http

if TYPE_CHECKING:
    from reconciler.service.archive import Archive

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class DriftGauge:
    """One environment's latest drift, as the history has it."""

    environment: str
    by_vendor: dict[str, dict[str, int]]  # vendor -> drifted / missing / unmanaged
    last_success: float | None  # epoch seconds of the last drift run that did not fail
    failing: bool


def drift_gauges(archive: Archive) -> list[DriftGauge]:
    """Every environment's latest drift; the history is asked again only for an environment
    whose latest drift failed (when did one last succeed?)."""
    gauges = []
    for s in archive.standings():
        run = s.latest_drift
        failing = run is not None and run.outcome == "failed"
        last = (archive.last_success(s.environment) if failing else
                parse_time(run.started_at).timestamp() if run is not None else None)
        gauges.append(DriftGauge(s.environment, {v: s.by_vendor.get(v, {}) for v in s.vendors},
                                 last, failing))
    return gauges


class _FromHistory(Collector):
    def __init__(self, read: Callable[[], Iterable[DriftGauge]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        drifted = GaugeMetricFamily("reconciler_drifted_objects", (
            "Objects changed behind reconciler's back at the latest drift run"),
            labels=["environment", "vendor"])
        missing = GaugeMetricFamily("reconciler_missing_objects", (
            "Managed objects gone from the vendor at the latest drift run"),
            labels=["environment", "vendor"])
        unmanaged = GaugeMetricFamily("reconciler_unmanaged_objects", (
            "Objects at the vendor that no manifest declares, at the latest drift run"),
            labels=["environment", "vendor"])
        last = GaugeMetricFamily("reconciler_last_successful_drift_timestamp_seconds", (
            "When the last drift run that did not fail started (Unix time)"),
            labels=["environment"])
        failing = GaugeMetricFamily("reconciler_environment_failing", (
            "1 when the environment's latest drift run failed"), labels=["environment"])
        for gauge in self.read():
            for vendor, counts in sorted(gauge.by_vendor.items()):
                drifted.add_metric([gauge.environment, vendor], counts.get("drifted", 0))
                missing.add_metric([gauge.environment, vendor], counts.get("missing", 0))
                unmanaged.add_metric([gauge.environment, vendor], counts.get("unmanaged", 0))
            if gauge.last_success is not None:
                last.add_metric([gauge.environment], gauge.last_success)
            failing.add_metric([gauge.environment], 1 if gauge.failing else 0)
        yield from (drifted, missing, unmanaged, last, failing)


class Metrics:
    def __init__(self, drift: Callable[[], Iterable[DriftGauge]]) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter("reconciler_runs", "Runs made by this process, by kind and outcome",
                            ["environment", "kind", "outcome"], registry=self.registry)
        self.durations = Histogram(
            "reconciler_run_duration_seconds", "How long runs took, by kind", ["kind"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=self.registry)
        self.requests = Counter("reconciler_vendor_requests", (
            "Vendor HTTP answers, by vendor and status code (\"network\": no answer)"),
            ["vendor", "status"], registry=self.registry)
        self.retries = Counter("reconciler_vendor_retries", "Vendor requests retried, by vendor",
                               ["vendor"], registry=self.registry)
        self.errors = Counter("reconciler_vendor_errors", (
            "Vendor answers of 4xx/5xx and network failures, by vendor and status"),
            ["vendor", "status"], registry=self.registry)
        self.registry.register(_FromHistory(drift))

    def ran(self, environment: str, kind: str, outcome: str, seconds: float) -> None:
        self.runs.labels(environment, kind, outcome).inc()
        self.durations.labels(kind).observe(seconds)

    def heard(self, vendor: str, event: str) -> None:
        """The vendor HTTP client's hook (reconciler.providers.http.OBSERVERS)."""
        if event == "retry":
            self.retries.labels(vendor).inc()
            return
        self.requests.labels(vendor, event).inc()
        if event == "network" or event >= "400":
            self.errors.labels(vendor, event).inc()

    def listen(self) -> None:
        if self.heard not in http.OBSERVERS:
            http.OBSERVERS.append(self.heard)

    def stop_listening(self) -> None:
        if self.heard in http.OBSERVERS:
            http.OBSERVERS.remove(self.heard)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
