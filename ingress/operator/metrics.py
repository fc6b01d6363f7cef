"""Counters of the Kubernetes source, read by the metrics endpoint on scrape."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


@dataclass(slots=True)
class OperatorMetrics:
    # kind ("Ingress", "Service", ...) → watch events received (listings included)
    watch_events: dict[str, int] = field(default_factory=dict)
    # True once every watched kind was listed once
    synced: bool = False
    # full re-lists after a watch broke (API server restarts, expired resourceVersions)
    relists: int = 0
    is_leader: bool = False
    # seconds from the last watch event to the publication of the table it produced
    event_to_swap_seconds: float = 0.0
    status_patches: int = 0
    events_posted: int = 0
    # announcements a rate limit made wait (each counted every time it is held back)
    events_held_back: int = 0
    # Secrets fetched on demand because a build referenced one we had dropped
    secrets_fetched: int = 0

    def count_event(self, kind: str) -> None:
        self.watch_events[kind] = self.watch_events.get(kind, 0) + 1


class OperatorCollector:
    """The Kubernetes source's counters as Prometheus metrics."""

    def __init__(self, metrics: OperatorMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        events = CounterMetricFamily(
            "portico_watch_events", "Watch events received, listings included.", labels=["kind"]
        )
        for kind, count in sorted(metrics.watch_events.items()):
            events.add_metric([kind], count)
        yield events
        yield CounterMetricFamily(
            "portico_watch_relists", "Full re-lists after a watch broke.", value=metrics.relists
        )
        yield GaugeMetricFamily(
            "portico_leader", "1 while this replica holds the leader Lease.",
            value=int(metrics.is_leader),
        )
        yield GaugeMetricFamily(
            "portico_watch_event_to_swap_seconds",
            "From the last watch event to the publication of the table it produced.",
            value=metrics.event_to_swap_seconds,
        )
        yield CounterMetricFamily(
            "portico_status_patches", "Ingress status updates written.",
            value=metrics.status_patches,
        )
        yield CounterMetricFamily(
            "portico_events_posted", "Kubernetes Events posted.", value=metrics.events_posted
        )
        yield CounterMetricFamily(
            "portico_events_held_back",
            "Times an Event had to wait for the Event rate limits.",
            value=metrics.events_held_back,
        )
        yield CounterMetricFamily(
            "portico_secrets_fetched", "TLS Secrets fetched on demand after being dropped.",
            value=metrics.secrets_fetched,
        )
