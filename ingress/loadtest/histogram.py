"""HDR histograms of latency in microseconds: record cheaply, merge exactly, read any percentile.

An HdrHistogram keeps 3 significant digits over the whole range (1 µs to
an hour here) in fixed memory, and two of them add up to exactly the
histogram of both samples: that is what lets worker processes and seconds
be merged without losing the tail. Histograms travel between processes in
their standard compressed encoding.
"""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: longer than any --timeout allows
DIGITS = 3
# The percentiles every report names.
REPORTED = (50.0, 90.0, 99.0, 99.9, 99.99)
# The spectrum's points: eight per added nine, from 0 to 99.999, then the max.
SPECTRUM = (*(round(100 * (1 - 10 ** (-k / 8)), 6) for k in range(41)), 100.0)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record_seconds(histogram: HdrHistogram, seconds: float) -> None:
    histogram.record_value(min(HIGHEST_US, max(LOWEST_US, round(seconds * 1e6))))


def histogram_of(seconds: Iterable[float]) -> HdrHistogram:
    """A histogram of latencies given in seconds."""
    histogram = new_histogram()
    for value in seconds:
        record_seconds(histogram, value)
    return histogram


def encode(histogram: HdrHistogram) -> bytes:
    encoded: bytes = histogram.encode()
    return encoded


def merged(encoded: Iterable[bytes]) -> HdrHistogram:
    total = new_histogram()
    for blob in encoded:
        total.decode_and_add(blob)
    return total


def percentiles_ms(histogram: HdrHistogram, ps: Iterable[float]) -> dict[float, float]:
    """p → the latency (ms) at or below which p % of the recorded requests answered.

    One pass over the buckets for all of them (each lookup alone is a pass);
    100 is the maximum. An empty histogram gives 0 for each.
    """
    wanted = sorted(set(ps))
    if not count(histogram):
        return dict.fromkeys(wanted, 0.0)
    found: dict[float, int] = histogram.get_percentile_to_value_dict(
        [p for p in wanted if p < 100])
    values = {p: found[p] / 1e3 for p in wanted if p < 100}
    if wanted[-1] >= 100:
        values[100.0] = float(histogram.get_max_value()) / 1e3
    return values


def count(histogram: HdrHistogram) -> int:
    total: int = histogram.get_total_count()
    return total


def mean_ms(histogram: HdrHistogram) -> float:
    """The mean (ms), each bucket counted at its middle value, as HdrHistogram's own mean.

    One pass over the buckets up to the last one recorded: the library's mean walks an
    iterator object per value, which took a second on a thousand values.
    """
    left = count(histogram)
    if not left:
        return 0.0
    total = 0
    index = 0
    while left:
        n: int = histogram.get_count_at_index(index)
        if n:
            low: int = histogram.get_value_from_index(index)
            high: int = histogram.get_highest_equivalent_value(low)
            total += n * (low + ((high - low + 1) >> 1))
            left -= n
        index += 1
    return total / count(histogram) / 1e3
