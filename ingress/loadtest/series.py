"""Seconds from every load generator merged into one per-second series and run totals.

Each generator hands over each second as it ends; a second is complete when
every generator has handed it over. A second holds what *finished* in it:
answers still arriving after the schedule's end make seconds of their own,
with a target of 0, so a server that drains a queue for seconds shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from hdrh.histogram import HdrHistogram

from ingress.loadtest.client import SecondStats
from ingress.loadtest.histogram import count, new_histogram, percentiles_ms

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Second:
    t: int  # seconds from the start
    target: float | None  # requests the schedule sent in it; None in a closed loop
    sent: int
    answered: int
    ok: int  # answers with status < 400, whose latencies these are
    errors: int  # transport failures + answers with status >= 400
    status: dict[int, int]
    error_kinds: dict[str, int]
    latency_ms: dict[float, float]  # percentile → ms, for `percentiles`, and 100 → max
    lag_ms: float


@dataclass(slots=True)
class _Pending:
    parts: int = 0
    sent: int = 0
    answered: int = 0
    status: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    histogram: HdrHistogram = field(default_factory=new_histogram)
    lag_ms: float = 0.0

    def add(self, stats: SecondStats) -> None:
        self.parts += 1
        self.sent += stats.sent
        self.answered += stats.answered
        _add_counts(self.status, stats.status)
        _add_counts(self.errors, stats.errors)
        if stats.latency:
            self.histogram.decode_and_add(stats.latency)
        self.lag_ms = max(self.lag_ms, stats.lag_ms)


def _add_counts(into: dict[K, int], counts: dict[K, int]) -> None:
    for key, n in counts.items():
        into[key] = into.get(key, 0) + n


class Series:
    def __init__(self, shares: int, percentiles: Sequence[float],
                 target: Callable[[int], float] | None,
                 on_second: Callable[[Second], None] | None = None) -> None:
        self.shares = shares
        self.percentiles = tuple(sorted({*percentiles, 100.0}))
        self.target = target
        self.on_second = on_second
        self.seconds: list[Second] = []
        self.total = new_histogram()
        self._pending: dict[int, _Pending] = {}

    def add(self, stats: SecondStats) -> None:
        pending = self._pending.setdefault(stats.second, _Pending())
        pending.add(stats)
        if pending.parts >= self.shares:
            self._complete_through(stats.second)

    def finish(self) -> None:
        """Complete what is left: the seconds some generators ended before reaching."""
        if self._pending:
            self._complete_through(max(self._pending))

    def _complete_through(self, last: int) -> None:
        for t in sorted(k for k in self._pending if k <= last):
            while len(self.seconds) < t:  # seconds in which nothing at all finished
                self._complete(len(self.seconds), _Pending())
            self._complete(t, self._pending.pop(t))

    def _complete(self, t: int, pending: _Pending) -> None:
        histogram = pending.histogram
        self.total.add(histogram)
        ok = count(histogram)
        http_errors = sum(n for code, n in pending.status.items() if code >= 400)
        second = Second(
            t=t,
            target=self.target(t) if self.target is not None else None,
            sent=pending.sent,
            answered=pending.answered,
            ok=ok,
            errors=http_errors + sum(pending.errors.values()),
            status=dict(sorted(pending.status.items())),
            error_kinds=dict(sorted(pending.errors.items())),
            latency_ms=percentiles_ms(histogram, self.percentiles),
            lag_ms=pending.lag_ms,
        )
        self.seconds.append(second)
        if self.on_second is not None:
            self.on_second(second)


def summed(counts: Sequence[dict[K, int]]) -> dict[K, int]:
    total: dict[K, int] = {}
    for c in counts:
        _add_counts(total, c)
    return total
