"""Summaries, per-round ratios, templates and wrk's summary line."""

from __future__ import annotations

import pytest

from benchmarks.harness.measure import Measurement, failed
from benchmarks.harness.report import markdown_table, summarize
from benchmarks.harness.rig import render
from benchmarks.harness.wrk import parse_report, wrk_argv


def run(config: str, rnd: int, requests: int, cpu_s: float, p99: float = 1.0) -> Measurement:
    return Measurement(config, "http-3B", rnd, requests, 1.0, cpu_s, 0.5, p99, 2 * p99)


def test_ratios_are_taken_within_each_round_then_the_median() -> None:
    # Round 2 is twice as fast for everyone: the per-round ratio stays 0.5.
    runs = [
        run("nginx", 1, 10_000, 0.5), run("portico-1", 1, 5_000, 0.5),
        run("nginx", 2, 20_000, 0.5), run("portico-1", 2, 10_000, 0.5),
        run("nginx", 3, 10_000, 0.25), run("portico-1", 3, 5_000, 0.25),
    ]
    by_config = {s.config: s for s in summarize(runs)}
    portico = by_config["portico-1"]
    assert portico.rps_ratio == pytest.approx(0.5)
    assert portico.cpu_ratio == pytest.approx(0.5)
    assert portico.rps == 5_000
    assert portico.per_cpu_s == 20_000  # median of 10k, 20k, 20k
    assert portico.cpu_us_per_request == pytest.approx(50.0)
    assert by_config["nginx"].cpu_ratio == pytest.approx(1.0)


def test_failed_runs_are_left_out_and_shown_as_failed() -> None:
    runs = [run("nginx", 1, 10_000, 0.5), failed("haproxy", "http-3B", 1, "did not start")]
    summaries = summarize(runs)
    assert [s.config for s in summaries] == ["nginx"]
    table = markdown_table(summaries, ["http-3B"], ["nginx", "haproxy"])
    assert table[-1].startswith("| http-3B | haproxy | failed |")
    assert "| http-3B | nginx | 10,000 |" in table[-2]


def test_without_nginx_in_the_round_there_is_no_ratio() -> None:
    (summary,) = summarize([run("portico-1", 1, 5_000, 0.5)])
    assert summary.rps_ratio is None
    assert "| — | — |" in markdown_table([summary], ["http-3B"], ["portico-1"])[-1]


def test_render_refuses_unfilled_placeholders() -> None:
    assert render("listen @HOST@:@PORT@;", {"HOST": "127.0.0.1", "PORT": "80"}) == \
        "listen 127.0.0.1:80;"
    with pytest.raises(ValueError, match="PORT"):
        render("listen @HOST@:@PORT@;", {"HOST": "127.0.0.1"})


def test_wrk_summary_line_is_found_after_wrk_own_output() -> None:
    out = (
        "Running 1s test @ http://127.0.0.1:1/ok\n  1 threads and 10 connections\n"
        'WRK_JSON {"requests": 100, "duration_us": 1000000, "bytes": 16800, '
        '"errors": {"connect": 0, "read": 1, "write": 0, "status": 2, "timeout": 0}, '
        '"mean_us": 12.5, "max_us": 90, "percentiles_us": {"50": 10, "99": 80, "99.9": 90}}\n'
    )
    report = parse_report(out)
    assert report.requests == 100
    assert report.duration_s == 1.0
    assert report.failed_requests == 3
    assert report.percentiles_us[99.9] == 90
    with pytest.raises(ValueError, match="no summary"):
        parse_report("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_wrk_command_is_pinned_and_rejects_fractions_of_seconds() -> None:
    argv = wrk_argv("http://127.0.0.1:1/ok", "bench.local", 50, 3, cpus="1")
    assert argv[:3] == ["taskset", "-c", "1"]
    assert argv[argv.index("-H") + 1] == "Host: bench.local"
    assert "-H" not in wrk_argv("http://127.0.0.1:1/ok", None, 50, 3)
    with pytest.raises(ValueError, match="whole seconds"):
        wrk_argv("http://127.0.0.1:1/ok", None, 50, 0)
