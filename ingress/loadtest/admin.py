"""Watch the ingress's admin /metrics during a run: table swaps, and its own histograms.

Portico counts every routing-table swap (`portico_config_rebuilds_total`)
and stamps the last one (`portico_config_last_success_timestamp_seconds`);
ingress-nginx has the same pair under its own names, which are read too, so
the same run can be made against either. Scraped every 200 ms: each rise of
the counter is a reload marker at the stamped time. The request and
upstream-latency histograms, when exposed, are read at the first and last
scrape, and their difference says what the proxy itself saw of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

POLL_INTERVAL = 0.2
RELOAD_COUNTERS = (
    "portico_config_rebuilds_total",
    "nginx_ingress_controller_success_total",
    "nginx_ingress_controller_success",
)
RELOAD_TIMESTAMPS = (
    "portico_config_last_success_timestamp_seconds",
    "nginx_ingress_controller_config_last_reload_successful_timestamp_seconds",
)
REQUEST_COUNTERS = (
    "portico_requests_total",
    "nginx_ingress_controller_requests_total",
    "nginx_ingress_controller_requests",
)
HISTOGRAMS = (
    "portico_upstream_response_seconds",
    "nginx_ingress_controller_request_duration_seconds",
    "nginx_ingress_controller_response_duration_seconds",
)

Samples = dict[str, list[tuple[dict[str, str], float]]]


def metrics_url(admin: str) -> str:
    """`http://host:10254` → its /metrics; a URL naming a path is taken as is."""
    stripped = admin.rstrip("/")
    return stripped if stripped.endswith("/metrics") else f"{stripped}/metrics"


def parse_samples(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def _first_sum(samples: Samples, names: Iterable[str]) -> float | None:
    for name in names:
        if name in samples:
            return sum(value for _, value in samples[name])
    return None


def _first_max(samples: Samples, names: Iterable[str]) -> float | None:
    for name in names:
        if name in samples:
            return max(value for _, value in samples[name])
    return None


def buckets(samples: Samples, name: str) -> dict[float, float]:
    """Cumulative bucket counts of histogram `name`, summed over its label sets."""
    summed: dict[float, float] = {}
    for labels, value in samples.get(f"{name}_bucket", []):
        bound = float(labels["le"])
        summed[bound] = summed.get(bound, 0.0) + value
    return dict(sorted(summed.items()))


def bucket_quantile(cumulative: dict[float, float], q: float) -> float | None:
    """Prometheus's histogram_quantile: linear within the bucket holding quantile `q`."""
    bounds = list(cumulative)
    if not bounds or cumulative[bounds[-1]] <= 0:
        return None
    rank = q * cumulative[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        if cumulative[bound] >= rank:
            if bound == float("inf"):
                return lower  # beyond the last finite bound: all that is known
            inside = cumulative[bound] - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative[bound]
    return lower


@dataclass(frozen=True, slots=True)
class Reload:
    unix: float  # when the table was swapped (the ingress's stamp, else when it was seen)
    count: int  # swaps seen at once (several between two scrapes)


@dataclass(slots=True)
class AdminWatch:
    url: str
    reloads: list[Reload] = field(default_factory=list)
    scrapes: int = 0
    error: str | None = None  # the first failed scrape, said once in the report
    reload_metric: bool = False  # the endpoint exposes a reload counter at all
    first: Samples = field(default_factory=dict)
    last: Samples = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        """Scrape until `stop` is set, then once more so the end of the run is counted."""
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                stopping = stop.is_set()
                await self._scrape(session)
                if stopping:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_INTERVAL)

    async def _scrape(self, session: aiohttp.ClientSession) -> None:
        try:
            async with session.get(self.url) as response:
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status}")
                samples = parse_samples(await response.text())
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            self.error = self.error or f"{self.url}: {error or type(error).__name__}"
            return
        self.record(samples, time.time())

    def record(self, samples: Samples, seen_at: float) -> None:
        """Take in one scrape, made at `seen_at` (epoch seconds)."""
        self.scrapes += 1
        if not self.first:
            self.first = samples
        previous = _first_sum(self.last or samples, RELOAD_COUNTERS)
        current = _first_sum(samples, RELOAD_COUNTERS)
        self.reload_metric = current is not None
        if previous is not None and current is not None and current > previous:
            stamp = _first_max(samples, RELOAD_TIMESTAMPS)
            self.reloads.append(Reload(stamp if stamp else seen_at, round(current - previous)))
        self.last = samples

    def requests(self) -> float | None:
        """Requests the ingress counted between the first and last scrape."""
        after = _first_sum(self.last, REQUEST_COUNTERS)
        if after is None:
            return None
        # A counter with no label set yet has no sample: nothing counted so far.
        return after - (_first_sum(self.first, REQUEST_COUNTERS) or 0.0)

    def latency_ms(self) -> dict[str, dict[str, float]]:
        """Per exposed histogram: p50/p90/p99 (ms) and count over the run, from bucket deltas."""
        found: dict[str, dict[str, float]] = {}
        for name in HISTOGRAMS:
            after = buckets(self.last, name)
            if not after:
                continue
            before = buckets(self.first, name)
            delta = {b: n - before.get(b, 0.0) for b, n in after.items()}
            observed = delta.get(float("inf"), 0.0)
            if observed <= 0:
                continue
            summary = {"count": observed}
            for label, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
                value = bucket_quantile(delta, q)
                if value is not None:
                    summary[label] = value * 1e3
            found[name] = summary
        return found
