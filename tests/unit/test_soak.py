"""The soak report's arithmetic: schedule, phase attribution, trends, rebuilds per phase."""

from __future__ import annotations

import itertools

import pytest

from benchmarks.churn import Load
from benchmarks.soak import (
    STEADY_SHARE,
    Sample,
    Window,
    latencies_by_window,
    rebuilds_during,
    schedule,
    slope_per_minute,
    summarize,
)


def test_schedule_alternates_steady_then_churn_and_fills_the_duration() -> None:
    windows = schedule(100.0, 300.0, 5)
    assert [w.kind for w in windows] == ["steady", "churn"] * 5
    assert windows[0].start == 100.0 and windows[-1].end == pytest.approx(400.0)
    for before, after in itertools.pairwise(windows):
        assert before.end == pytest.approx(after.start)
    assert windows[0].end - windows[0].start == pytest.approx(60.0 * STEADY_SHARE)


@pytest.mark.parametrize(("duration", "cycles"), [(0.0, 5), (10.0, 0)])
def test_schedule_rejects_nonsense(duration: float, cycles: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        schedule(0.0, duration, cycles)


def load_with(*answers: tuple[float, float]) -> Load:
    load = Load("http://127.0.0.1:1", "x.test")
    for done, latency in answers:
        load.done_at.append(done)
        load.latency.append(latency)
    return load


def test_answers_belong_to_the_window_they_completed_in() -> None:
    windows = [Window("steady", 0.0, 1.0), Window("churn", 1.0, 4.0)]
    plain = load_with((0.5, 0.003), (1.0, 0.002), (3.9, 0.009), (4.0, 0.5))
    secure = load_with((-0.1, 0.7), (0.2, 0.001))
    assert latencies_by_window([plain, secure], windows) == [[0.001, 0.003], [0.002, 0.009]]


def test_summary_percentiles_and_rate() -> None:
    summary = summarize([n / 1000 for n in range(1, 101)], seconds=4.0)
    assert summary is not None
    assert (summary.requests, summary.rps) == (100, 25.0)
    # HDR histograms: three significant digits.
    assert summary.p50_ms == pytest.approx(50.0, rel=1e-3)
    assert summary.p99_ms == pytest.approx(99.0, rel=1e-3)
    assert summary.max_ms == pytest.approx(100.0, rel=1e-3)
    assert summarize([], seconds=1.0) is None


def test_slope_is_per_minute() -> None:
    assert slope_per_minute([(0.0, 50.0), (30.0, 50.5), (60.0, 51.0)]) == pytest.approx(1.0)
    assert slope_per_minute([(0.0, 7.0), (120.0, 7.0)]) == 0.0
    with pytest.raises(ValueError, match="two samples"):
        slope_per_minute([(0.0, 1.0)])
    with pytest.raises(ValueError, match="two different times"):
        slope_per_minute([(5.0, 1.0), (5.0, 2.0)])


def test_rebuilds_are_counted_only_between_samples_of_one_phase() -> None:
    start = 1000.0
    windows = [Window("steady", start, start + 10), Window("churn", start + 10, start + 20)]

    def sample(t: float, rebuilds: int) -> Sample:
        return Sample(t=t, rss_bytes=0, fds=0, rebuilds=rebuilds, load_average=0.0)

    samples = [sample(0, 1), sample(5, 1), sample(9, 1), sample(11, 3), sample(15, 9),
               sample(19, 12)]
    assert rebuilds_during(samples, windows, start, "steady") == 0
    assert rebuilds_during(samples, windows, start, "churn") == 9  # 11 → 19; 9 → 11 straddles
