"""Counters of the Kubernetes source, read by the metrics endpoint on scrape."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class OperatorMetrics:
    # kind ("Ingress", "Service", ...) → watch events received (listings included)
    watch_events: dict[str, int] = field(default_factory=dict)
    # True once every watched kind was listed once
    synced: bool = False
    # full re-lists after a watch broke (API server restarts, expired resourceVersions)
    relists: int = 0
    is_leader: bool = False
    owned_ingresses: int = 0
    ingresses_with_problems: int = 0
    # seconds from the last watch event to the publication of the table it produced
    event_to_swap_seconds: float = 0.0
    status_patches: int = 0
    events_posted: int = 0
    # Secrets fetched on demand because a build referenced one we had dropped
    secrets_fetched: int = 0

    def count_event(self, kind: str) -> None:
        self.watch_events[kind] = self.watch_events.get(kind, 0) + 1
