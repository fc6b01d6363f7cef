"""The load tester's pure parts: schedules, SLO terms and the knee, merging, admin metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingress.loadtest.admin import AdminWatch, Reload, bucket_quantile, buckets, parse_samples
from ingress.loadtest.churn import churn_copy
from ingress.loadtest.client import SecondStats
from ingress.loadtest.histogram import encode, histogram_of, mean_ms, merged, percentiles_ms
from ingress.loadtest.request import RequestSpec, Target, parse_header
from ingress.loadtest.schedule import Schedule, Share, parse_duration, parse_stages
from ingress.loadtest.series import Second, Series
from ingress.loadtest.slo import Observed, check, knee, parse_slo
from kube import objects as o

# --- schedules ---------------------------------------------------------------------------


def test_a_constant_rate_spaces_requests_evenly() -> None:
    schedule = Schedule.constant(400, 1.0)
    assert schedule.total == 400
    assert [schedule.at(j) for j in (0, 1, 399)] == pytest.approx([0.0, 0.0025, 0.9975])
    assert (schedule.due(0.0), schedule.due(0.5), schedule.due(5.0)) == (1, 201, 400)


def test_stages_ramp_linearly_from_zero_like_k6() -> None:
    schedule = parse_stages("2s:100,2s:100,1s:0")
    assert schedule.duration == 5.0
    # 0→100 over 2 s is 100 requests, then 200 flat, then 100→0 over 1 s is 50.
    assert schedule.total == 350
    assert [schedule.target_in_second(s) for s in range(6)] == pytest.approx(
        [25, 75, 100, 100, 50, 0])
    assert schedule.at(50) == pytest.approx(2 ** 0.5)  # 25·t² = 50
    assert schedule.at(100) == pytest.approx(2.0)
    times = [schedule.at(j) for j in range(schedule.total)]
    assert times == sorted(times) and times[-1] < 5.0


def test_worker_shares_partition_the_schedule() -> None:
    schedule = parse_stages("1s:90,1s:30")
    shares = [Share(schedule, k, 3) for k in range(3)]
    assert sum(s.total for s in shares) == schedule.total
    merged = sorted(s.at(i) for s in shares for i in range(s.total))
    assert merged == pytest.approx([schedule.at(j) for j in range(schedule.total)])
    assert sum(s.due(1.5) for s in shares) == schedule.due(1.5)


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90.0), ("90s", 90.0), ("1.5m", 90.0), ("500ms", 0.5), ("1h", 3600.0)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "message"), [
    ("10s", "want DURATION:RATE"), ("0s:10", "more than 0 s"), ("1s:-5", "negative"),
    ("5s:0", "no request"), ("ten:5", "not a duration")])
def test_bad_stages(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_stages(text)


# --- the request ------------------------------------------------------------------------


def test_the_request_is_built_once_with_host_headers_and_body() -> None:
    spec = RequestSpec("https://127.0.0.1:8443/a?b=1", "app.example", "post",
                       (parse_header("X-Trace: 7"),), b"hello")
    target = Target.from_spec(spec)
    assert (target.address, target.port, target.server_name) == ("127.0.0.1", 8443, "app.example")
    assert target.tls is not None and not target.head
    assert target.payload == (b"POST /a?b=1 HTTP/1.1\r\nHost: app.example\r\n"
                              b"User-Agent: portico-loadtest\r\nX-Trace: 7\r\n"
                              b"Content-Length: 5\r\n\r\nhello")
    assert Target.from_spec(RequestSpec("http://h:81/", method="HEAD")).head


@pytest.mark.parametrize(("header", "message"), [
    ("NoColon", "want 'Name: value'"), ("Bad Name: x", "want 'Name: value'"),
    ("Content-Length: 5", "set by the load tester")])
def test_bad_headers(header: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_header(header)


# --- seconds, histograms and SLOs ----------------------------------------------------------


def stats(share: int, second: int, latencies: list[float], **kw: object) -> SecondStats:
    s = SecondStats(share, second, sent=len(latencies), answered=len(latencies),
                    status={200: len(latencies)}, **kw)  # type: ignore[arg-type]
    s.latency = encode(histogram_of(latencies))
    return s


def test_seconds_complete_when_every_generator_sent_them_and_merge_exactly() -> None:
    done: list[Second] = []
    series = Series(2, [50.0, 99.0], lambda t: 10.0, on_second=done.append)
    series.add(stats(0, 0, [0.001] * 9))
    assert done == []
    series.add(stats(1, 0, [0.100], errors={"reset": 1}))
    series.add(stats(1, 1, []))  # each generator hands over every second, empty or not
    series.add(stats(1, 2, [0.002]))
    series.add(stats(0, 1, []))
    assert [s.t for s in done] == [0, 1]
    series.finish()  # share 0 ended before second 2 began
    assert [s.t for s in done] == [0, 1, 2]
    first = done[0]
    assert (first.answered, first.ok, first.errors, first.target) == (10, 10, 1, 10.0)
    assert first.latency_ms[50.0] == pytest.approx(1.0, rel=1e-3)
    assert first.latency_ms[100.0] == pytest.approx(100.0, rel=1e-3)
    assert percentiles_ms(series.total, [100.0])[100.0] == pytest.approx(100.0, rel=1e-3)


@pytest.mark.parametrize("latencies", [
    [0.001] * 9 + [0.1], [0.0000004, 3600.0, 7200.0], [i / 997 for i in range(1, 2000)]])
def test_the_mean_is_hdrhistograms_own_in_one_pass(latencies: list[float]) -> None:
    histogram = histogram_of(latencies)
    assert mean_ms(histogram) == pytest.approx(histogram.get_mean_value() / 1e3, rel=1e-12)
    decoded = merged([encode(histogram)])  # a decoded histogram may hold fewer buckets
    assert mean_ms(decoded) == pytest.approx(histogram.get_mean_value() / 1e3, rel=1e-12)
    assert mean_ms(histogram_of([])) == 0.0


def test_slo_terms_parse_and_judge() -> None:
    terms = parse_slo("p99<50ms, p99.9 <= 1s, errors<0.1%, errors<5, rps>=100, max<2000us")
    assert [t.metric for t in terms] == ["p99", "p99.9", "errors", "errors", "rps", "max"]
    assert [t.limit for t in terms] == [50.0, 1000.0, 0.001, 5.0, 100.0, 2.0]
    seen = Observed(latency_ms={99.0: 40.0, 99.9: 1000.0, 100.0: 3.0}.__getitem__, mean_ms=1.0,
                    requests=10_000, errors=8, rps=100.0)
    assert [v.passed for v in check(terms, seen)] == [True, True, True, False, True, False]
    for bad in ("p99<50", "p100<1s", "errors<1ms", "rps>5%", "latency<1s"):
        with pytest.raises(ValueError, match="SLO term"):
            parse_slo(bad)


def second(t: int, target: float, p99: float, errors: int = 0, lag_ms: float = 0.0) -> Second:
    return Second(t, target, sent=100, answered=100, ok=100 - errors, errors=errors, status={},
                  error_kinds={}, latency_ms={99.0: p99, 100.0: p99}, lag_ms=lag_ms)


def test_the_knee_is_the_last_good_rate_before_a_sustained_failure() -> None:
    terms = parse_slo("p99<50ms,errors<1%")
    ramp = [second(0, 100, 5), second(1, 200, 90), second(2, 300, 6),  # one bad second: a blip
            second(3, 400, 8), second(4, 500, 70), second(5, 600, 20, errors=5),
            second(6, 700, 5)]
    found = knee(terms, ramp, lag_limit_ms=20)
    assert (found.rate, found.failed_at, found.t) == (400, 500, 3)
    never = knee(terms, ramp[:1], lag_limit_ms=20)
    assert (never.rate, never.failed_at) == (100, None)
    assert knee(terms, [second(0, 100, 99), second(1, 200, 99)], lag_limit_ms=20).rate is None


def test_seconds_the_client_fell_behind_in_do_not_decide_the_knee() -> None:
    terms = parse_slo("p99<50ms")
    ramp = [second(0, 100, 5), second(1, 200, 300, lag_ms=80), second(2, 300, 200, lag_ms=60),
            second(3, 400, 8), second(4, 500, 70), second(5, 600, 90)]
    found = knee(terms, ramp, lag_limit_ms=20)
    assert (found.rate, found.failed_at) == (400, 500)


# --- the admin endpoint ----------------------------------------------------------------------

METRICS = """\
# TYPE portico_config_rebuilds counter
portico_config_rebuilds_total {rebuilds}
# TYPE portico_config_last_success_timestamp_seconds gauge
portico_config_last_success_timestamp_seconds {stamp}
# TYPE portico_upstream_response_seconds histogram
portico_upstream_response_seconds_bucket{{host="a",le="0.001"}} {fast}
portico_upstream_response_seconds_bucket{{host="a",le="0.01"}} {slow}
portico_upstream_response_seconds_bucket{{host="a",le="+Inf"}} {slow}
portico_upstream_response_seconds_count{{host="a"}} {slow}
portico_upstream_response_seconds_sum{{host="a"}} 1.0
"""


def test_histogram_quantiles_interpolate_within_buckets_as_prometheus_does() -> None:
    cumulative = buckets(parse_samples(METRICS.format(rebuilds=1, stamp=1, fast=50, slow=100)),
                         "portico_upstream_response_seconds")
    assert cumulative == {0.001: 50, 0.01: 100, float("inf"): 100}
    assert bucket_quantile(cumulative, 0.5) == pytest.approx(0.001)
    assert bucket_quantile(cumulative, 0.75) == pytest.approx(0.0055)
    assert bucket_quantile({0.1: 0.0, float("inf"): 0.0}, 0.5) is None


def test_admin_watch_marks_rises_of_the_reload_counter_at_their_stamp() -> None:
    watch = AdminWatch("http://admin/metrics")
    for rebuilds, stamp, fast, slow in ((3, 100.0, 0, 0), (3, 100.0, 10, 10), (5, 107.5, 20, 40)):
        watch.record(parse_samples(METRICS.format(rebuilds=rebuilds, stamp=stamp, fast=fast,
                                                  slow=slow)), seen_at=200.0)
    assert watch.reloads == [Reload(107.5, 2)]
    assert watch.reload_metric
    # Over the watch: 20 answers under 1 ms, 20 between 1 and 10 ms.
    upstream = watch.latency_ms()["portico_upstream_response_seconds"]
    assert upstream["count"] == 40
    assert upstream["p50"] == pytest.approx(1.0)
    assert upstream["p90"] == pytest.approx(1.0 + 9.0 * 16 / 20)


# --- churn --------------------------------------------------------------------------------


def test_churn_copies_an_ingress_under_hosts_nothing_resolves(tmp_path: Path) -> None:
    template = o.ingress("web", host="app.example", tls_secret="web-tls")
    copy = churn_copy(template)
    assert copy["metadata"]["name"] == "web-loadtest-churn"
    assert [r["host"] for r in copy["spec"]["rules"]] == ["churn0.loadtest.invalid"]
    assert "tls" not in copy["spec"]
    assert copy["spec"]["rules"][0]["http"] == template["spec"]["rules"][0]["http"]
