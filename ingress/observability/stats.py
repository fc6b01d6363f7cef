"""Per-request counters of the data plane, kept as plain ints.

The proxy touches these on every request, so recording is a dict lookup by a
key built from values the request already has (the route's precomputed
label tuple, the status code, the method bytes), then indexed increments
into one flat list per series: never label formatting. The admin endpoint
turns them into Prometheus families on scrape; with several workers each
worker ships `ProxyStats` to the supervisor, which adds them up with `merge`.

One `RequestSeries` holds every histogram of one (route, status, method):
ingress-nginx's request/upstream timings and sizes. Bounds that two
exported families share are recorded once on their union, so that both are
exact projections of it (`Histogram.cumulative`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Final

# ingress-nginx's --time-buckets default (Prometheus DefBuckets), seconds.
TIME_BUCKETS: Final[tuple[float, ...]] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# ingress-nginx's --length-buckets default, LinearBuckets(10, 10, 10): request/response size.
LENGTH_BUCKETS: Final[tuple[float, ...]] = tuple(float(10 * i) for i in range(1, 11))
# ingress-nginx's --size-buckets default, ExponentialBuckets(10, 10, 7): bytes_sent.
SIZE_BUCKETS: Final[tuple[float, ...]] = tuple(10.0**i for i in range(1, 8))
# portico_upstream_response_seconds: DefBuckets with two finer bounds below 5 ms.
UPSTREAM_BUCKETS: Final[tuple[float, ...]] = (0.001, 0.0025, *TIME_BUCKETS)

# (host, ingress namespace, ingress name, service, Ingress path, canary upstream) of a route
# (`Route.labels`, `Route.canary_labels`); all '' when no route matched. Typed with a
# variable length: compiled code keeps a fixed-length tuple unpacked, and packs a new one
# each time it stores or hashes it.
RouteLabels = tuple[str, ...]
NO_ROUTE: RouteLabels = ("", "", "", "", "", "")
# (route labels, status code, method as received)
SeriesKey = tuple[RouteLabels, int, bytes]


@dataclass(frozen=True, slots=True)
class Histogram:
    """Where one histogram lives in a series' flat `counts`, and its recorded bounds."""

    offset: int
    bounds: tuple[float, ...]
    total: int  # index of its sum in `RequestSeries.sums`

    @property
    def end(self) -> int:
        return self.offset + len(self.bounds) + 1

    def cumulative(self, counts: list[int], bounds: tuple[float, ...]) -> list[int]:
        """Cumulative counts at each of `bounds` (a subset of ours) and at +Inf."""
        out: list[int] = []
        running = 0
        wanted = iter(bounds)
        next_bound = next(wanted, None)
        for bound, n in zip(self.bounds, counts[self.offset:self.end], strict=False):
            running += n
            if bound == next_bound:
                out.append(running)
                next_bound = next(wanted, None)
        if next_bound is not None:
            raise ValueError(f"{next_bound} is not a recorded bound")
        out.append(sum(counts[self.offset:self.end]))
        return out


def _layout(*bounds: tuple[float, ...]) -> tuple[Histogram, ...]:
    histograms, offset = [], 0
    for index, edges in enumerate(bounds):
        histograms.append(Histogram(offset, edges, index))
        offset += len(edges) + 1
    return tuple(histograms)


REQUEST_TIME, CONNECT_TIME, HEADER_TIME, RESPONSE_TIME, REQUEST_SIZE, RESPONSE_SIZE = _layout(
    TIME_BUCKETS,
    TIME_BUCKETS,
    UPSTREAM_BUCKETS,  # ⊇ TIME_BUCKETS: also portico_upstream_response_seconds
    TIME_BUCKETS,
    LENGTH_BUCKETS,
    tuple(sorted({*LENGTH_BUCKETS, *SIZE_BUCKETS})),  # response_size and bytes_sent
)
_SLOTS = RESPONSE_SIZE.end
_SUMS = 6
# Offsets for the hot path, as plain ints (Final: compiled code reads them without a lookup).
_CONNECT: Final[int] = CONNECT_TIME.offset
_HEADER: Final[int] = HEADER_TIME.offset
_RESPONSE: Final[int] = RESPONSE_TIME.offset
_REQ_SIZE: Final[int] = REQUEST_SIZE.offset
_RESP_SIZE: Final[int] = RESPONSE_SIZE.offset
_RESP_SIZE_BOUNDS: Final[tuple[float, ...]] = RESPONSE_SIZE.bounds
# The first bound of the time histograms: most times are below it, and a comparison costs
# less than a search.
_FAST: Final[float] = TIME_BUCKETS[0]
_FAST_UPSTREAM: Final[float] = UPSTREAM_BUCKETS[0]


class RequestSeries:
    """Non-cumulative bucket counts of every histogram of one series, and their sums."""

    __slots__ = ("counts", "sums")

    def __init__(self) -> None:
        self.counts = [0] * _SLOTS
        self.sums = [0.0] * _SUMS

    @property
    def requests(self) -> int:
        return sum(self.counts[REQUEST_TIME.offset:REQUEST_TIME.end])

    @property
    def upstream_requests(self) -> int:
        return sum(self.counts[HEADER_TIME.offset:HEADER_TIME.end])

    def add(self, other: RequestSeries) -> None:
        counts, sums = self.counts, self.sums
        for i, n in enumerate(other.counts):
            counts[i] += n
        for i, s in enumerate(other.sums):
            sums[i] += s


@dataclass(slots=True)
class ProxyStats:
    series: dict[SeriesKey, RequestSeries] = field(default_factory=dict)
    # (namespace/service:port, reason) → count of failed upstream attempts
    upstream_errors: dict[tuple[str, str], int] = field(default_factory=dict)
    # reason ("connect_refused", "stale_connection"...) → requests sent to an upstream again
    retries: dict[str, int] = field(default_factory=dict)
    # outcome (answered, failed, dropped) → copies of requests sent to mirrors
    mirrored: dict[str, int] = field(default_factory=dict)
    # reason ("rapid_reset", "ping_flood", ...) → HTTP/2 connections closed for abuse or errors
    http2_closed: dict[str, int] = field(default_factory=dict)
    connections_accepted: int = 0
    active_connections: int = 0
    # Client connections by state, as nginx's stub_status counts them (set by `snapshot`).
    reading: int = 0
    writing: int = 0
    waiting: int = 0
    open_tunnels: int = 0
    tls_handshakes: int = 0
    access_log_lines: int = 0
    access_log_dropped: int = 0
    spans_queued: int = 0
    spans_dropped: int = 0
    # 1 while --max-connections keeps this worker from accepting (summed: workers paused)
    accept_paused: int = 0
    connection_limit_reached: int = 0
    # The series of the last request and its key: a keep-alive client asks for the same
    # route again and again, and comparing the key's parts costs less than hashing them.
    _last: RequestSeries | None = field(default=None, repr=False, compare=False)
    _last_labels: RouteLabels = field(default=NO_ROUTE, repr=False, compare=False)
    _last_status: int = field(default=0, repr=False, compare=False)
    _last_method: bytes = field(default=b"", repr=False, compare=False)

    def request_done(
        self,
        labels: RouteLabels,
        status: int,
        method: bytes,
        seconds: float,
        request_bytes: int,
        response_bytes: int,
    ) -> RequestSeries:
        """Count one answered request; the caller adds upstream timings to the series."""
        series = self._last
        # The labels compare item by item, and their strings by identity: the route's own.
        if (series is None or status != self._last_status or method != self._last_method
                or labels != self._last_labels):
            key = (labels, status, method)
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = RequestSeries()
            self._last, self._last_labels = series, labels
            self._last_status, self._last_method = status, method
        counts, sums = series.counts, series.sums
        counts[0 if seconds <= _FAST else bisect_left(TIME_BUCKETS, seconds)] += 1
        sums[0] += seconds
        counts[_REQ_SIZE + bisect_left(LENGTH_BUCKETS, request_bytes)] += 1
        sums[4] += request_bytes
        counts[_RESP_SIZE + bisect_left(_RESP_SIZE_BOUNDS, response_bytes)] += 1
        sums[5] += response_bytes
        return series

    def upstream_timed(self, series: RequestSeries, connect: float, header: float,
                       response: float) -> None:
        """The upstream attempt that answered: connect, first header and last byte, in s."""
        counts, sums = series.counts, series.sums
        counts[_CONNECT + (0 if connect <= _FAST else bisect_left(TIME_BUCKETS, connect))] += 1
        sums[1] += connect
        counts[_HEADER + (0 if header <= _FAST_UPSTREAM
                          else bisect_left(UPSTREAM_BUCKETS, header))] += 1
        sums[2] += header
        counts[_RESPONSE + (0 if response <= _FAST
                            else bisect_left(TIME_BUCKETS, response))] += 1
        sums[3] += response

    def upstream_failed(self, backend_key: str, reason: str) -> None:
        key = (backend_key, reason)
        self.upstream_errors[key] = self.upstream_errors.get(key, 0) + 1

    def keep_only(self, routes: Collection[RouteLabels]) -> None:
        """Forget the series of routes that left the table (as ingress-nginx does)."""
        for key in [k for k in self.series if k[0] not in routes and k[0] != NO_ROUTE]:
            del self.series[key]
        self._last = None

    def retried(self, reason: str) -> None:
        self.retries[reason] = self.retries.get(reason, 0) + 1

    def mirror_done(self, outcome: str) -> None:
        self.mirrored[outcome] = self.mirrored.get(outcome, 0) + 1
    def http2_closed_for(self, reason: str) -> None:
        self.http2_closed[reason] = self.http2_closed.get(reason, 0) + 1

    def merge(self, other: ProxyStats) -> None:
        """Add another worker's counters into these (gauges add up too)."""
        for key, series in other.series.items():
            mine = self.series.get(key)
            if mine is None:
                mine = self.series[key] = RequestSeries()
            mine.add(series)
        for ekey, n in other.upstream_errors.items():
            self.upstream_errors[ekey] = self.upstream_errors.get(ekey, 0) + n
        for reason, n in other.retries.items():
            self.retries[reason] = self.retries.get(reason, 0) + n
        for outcome, n in other.mirrored.items():
            self.mirrored[outcome] = self.mirrored.get(outcome, 0) + n
        for reason, n in other.http2_closed.items():
            self.http2_closed[reason] = self.http2_closed.get(reason, 0) + n
        self.connections_accepted += other.connections_accepted
        self.active_connections += other.active_connections
        self.reading += other.reading
        self.writing += other.writing
        self.waiting += other.waiting
        self.open_tunnels += other.open_tunnels
        self.tls_handshakes += other.tls_handshakes
        self.access_log_lines += other.access_log_lines
        self.access_log_dropped += other.access_log_dropped
        self.spans_queued += other.spans_queued
        self.spans_dropped += other.spans_dropped
        self.accept_paused += other.accept_paused
        self.connection_limit_reached += other.connection_limit_reached
