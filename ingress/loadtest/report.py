"""A finished run → report.json, its README.md, and the summary printed at the end.

report.json is the record: the README, the plots and `--compare` are all
made from it alone, so a report written where nothing can draw (the
controller image has no matplotlib) can be plotted later elsewhere.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from ingress.loadtest.admin import AdminWatch
from ingress.loadtest.churn import Churn
from ingress.loadtest.histogram import REPORTED, SPECTRUM, count, mean_ms, percentiles_ms
from ingress.loadtest.series import Second, summed
from ingress.loadtest.slo import Knee, Observed, Term, check

Report = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Run:
    url: str
    host: str | None
    method: str
    mode: str  # "rate", "stages" or "connections"
    load: str  # the load in words: "open loop at 500 rps over 64 connections"
    started_unix: float
    duration: float
    seconds: Sequence[Second]
    total: HdrHistogram
    sent: int
    first_errors: dict[str, str]
    processes: int
    lag_limit_ms: float
    terms: Sequence[Term]
    knee: Knee | None
    admin: AdminWatch | None
    churn: Churn | None


def _key(p: float) -> str:
    return f"p{p:g}"


def build_report(run: Run) -> Report:
    total = run.total
    status = summed([s.status for s in run.seconds])
    transport = summed([s.error_kinds for s in run.seconds])
    answered = sum(status.values())
    http_errors = {str(code): n for code, n in status.items() if code >= 400}
    errors = sum(transport.values()) + sum(http_errors.values())
    lag = max((s.lag_ms for s in run.seconds), default=0.0)
    asked = [t.percentile for t in run.terms if t.percentile is not None]
    at = percentiles_ms(total, [*SPECTRUM, *REPORTED, *asked])
    latency = {_key(p): at[p] for p in REPORTED} if count(total) else {}
    if latency:
        latency |= {"max": at[100.0], "mean": mean_ms(total)}
    seen = Observed(latency_ms=lambda p: at[p], mean_ms=mean_ms(total), requests=run.sent,
                    errors=errors,
                    rps=answered / run.duration)
    verdicts = check(run.terms, seen)
    report: Report = {
        "url": run.url,
        "host": run.host,
        "method": run.method,
        "mode": run.mode,
        "load": run.load,
        "started": datetime.datetime.fromtimestamp(run.started_unix).astimezone().isoformat(
            timespec="seconds"),
        "started_unix": run.started_unix,
        "duration_s": run.duration,
        "processes": run.processes,
        "client": {"python": platform.python_version(), "cpus": os.cpu_count() or 0},
        "requests": run.sent,
        "answered": answered,
        "errors": errors,
        "errors_by_kind": {**transport, **http_errors},
        "first_errors": run.first_errors,
        "rps": answered / run.duration,
        "latency_ms": latency,
        "spectrum": [[p, at[p]] for p in SPECTRUM] if count(total) else [],
        "status": {str(code): n for code, n in status.items()},
        "per_second": [_second(s) for s in run.seconds],
        "client_lag_ms": lag,
        "client_lag_limit_ms": run.lag_limit_ms,
        "client_behind": lag > run.lag_limit_ms,
        "reloads": [],
        "slo": {
            "pass": all(v.passed for v in verdicts) if verdicts else None,
            "terms": [{"term": v.term.text, "value": _in_units(v.term, v.value), "pass": v.passed}
                      for v in verdicts],
        },
    }
    if run.knee is not None:
        report["slo"]["knee"] = {"rps": run.knee.rate, "achieved_rps": run.knee.achieved,
                                 "failed_at_rps": run.knee.failed_at, "t": run.knee.t}
    if run.admin is not None:
        report["reloads"] = [{"t": r.unix - run.started_unix, "unix": r.unix, "count": r.count}
                             for r in run.admin.reloads]
        report["admin"] = {
            "url": run.admin.url,
            "scrapes": run.admin.scrapes,
            "error": run.admin.error,
            "reload_metric": run.admin.reload_metric,
            "requests": run.admin.requests(),
            "histograms_ms": run.admin.latency_ms(),
        }
    if run.churn is not None:
        report["churn"] = {"dir": str(run.churn.directory), "every_s": run.churn.every,
                           "changes": [t - run.started_unix for t in run.churn.changes]}
    return report


def _in_units(term: Term, value: float) -> float:
    """A term's observed value as the term states it (errors in % when given in %)."""
    return value * 100 if term.share else value


def _second(s: Second) -> dict[str, Any]:
    return {
        "t": s.t,
        "target": s.target,
        "sent": s.sent,
        "rps": s.answered,
        "p50": s.latency_ms.get(50.0, 0.0),
        "p90": s.latency_ms.get(90.0, 0.0),
        "p99": s.latency_ms.get(99.0, 0.0),
        "max": s.latency_ms.get(100.0, 0.0),
        "errors": s.errors,
        "status": {str(code): n for code, n in s.status.items()},
        "error_kinds": s.error_kinds,
        "lag_ms": s.lag_ms,
    }


def exit_status(report: Report) -> int:
    """0: passed; 1: an SLO term failed or nothing was answered; 3: the client fell behind."""
    if report["client_behind"]:
        return 3
    if report["slo"]["pass"] is False or not report["answered"]:
        return 1
    return 0


# --- words ---------------------------------------------------------------------------------

_RED, _GREEN, _RESET = "\033[31m", "\033[32m", "\033[0m"


def _paint(text: str, color: str, enabled: bool) -> str:
    return f"{color}{text}{_RESET}" if enabled else text


def _ms(value: float) -> str:
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def headline(report: Report) -> str:
    lat = report["latency_ms"]
    where = report["url"] + (f" (Host: {report['host']})" if report["host"] else "")
    return (f"{where}: {report['load']}, {report['duration_s']:g} s; "
            f"{report['requests']:,} requests, {report['rps']:,.0f} answers/s, "
            f"{report['errors']:,} errors; p50 {_ms(lat.get('p50', 0))} ms, "
            f"p99 {_ms(lat.get('p99', 0))} ms, max {_ms(lat.get('max', 0))} ms")


def warnings(report: Report) -> list[str]:
    """What makes this run's numbers suspect or failing, one sentence each."""
    found = []
    if report["client_behind"]:
        found.append(f"THE CLIENT FELL BEHIND: it dispatched up to {report['client_lag_ms']:,.0f}"
                     f" ms late (limit {report['client_lag_limit_ms']:g} ms), so latencies "
                     "include its own delay; use --processes or a bigger client machine")
    for term in report["slo"]["terms"]:
        if not term["pass"]:
            found.append(f"SLO {term['term']} failed: observed {term['value']:,.3g}")
    if not report["answered"]:
        found.append("no request was answered")
    admin = report.get("admin")
    if admin and admin["error"]:
        found.append(f"admin metrics: {admin['error']}")
    if admin and not admin["error"] and not admin["reload_metric"]:
        found.append(f"admin metrics at {admin['url']} have no reload counter")
    return found


def summary_lines(report: Report, color: bool) -> list[str]:
    lat = report["latency_ms"]
    lines = [headline(report)]
    if lat:
        lines.append("latency ms: " + "  ".join(
            f"{k} {_ms(v)}" for k, v in lat.items() if k != "mean"))
    if report["errors_by_kind"]:
        lines.append("errors: " + ", ".join(f"{k} {n:,}" for k, n in
                                            report["errors_by_kind"].items()))
    if report["reloads"]:
        lines.append(f"reloads during the run: {sum(r['count'] for r in report['reloads'])}")
    knee_ = report["slo"].get("knee")
    if knee_:
        lines.append(_knee_words(knee_))
    lines.append(f"client lag: max {report['client_lag_ms']:,.1f} ms")
    for warning in warnings(report):
        lines.append(_paint(warning, _RED, color))
    if report["slo"]["pass"] is True:
        lines.append(_paint("SLO passed: " + ", ".join(
            t["term"] for t in report["slo"]["terms"]), _GREEN, color))
    return lines


def _knee_words(knee_: dict[str, Any]) -> str:
    if knee_["rps"] is None:
        return "knee: the SLO failed from the first second"
    held = f"knee: the SLO held up to {knee_['rps']:,.0f} rps (second {knee_['t']})"
    if knee_["failed_at_rps"] is None:
        return held + ", the highest rate of the run"
    return held + f"; it failed from {knee_['failed_at_rps']:,.0f} rps on"


def readme(report: Report, plots: Sequence[str]) -> str:
    lat = report["latency_ms"]
    lines = [
        f"# Load test of {report['url']}",
        "",
        f"{report['started']}: {report['load']} for {report['duration_s']:g} s"
        + (f", Host `{report['host']}`" if report["host"] else "")
        + f", `{report['method']}`; {report['processes']} client process(es) on a "
        f"{report['client']['cpus']}-CPU machine, Python {report['client']['python']}.",
        "",
    ]
    for warning in warnings(report):
        lines += [f"**⚠ {warning}.**", ""]
    lines += [
        "| requests | answered | errors | answers/s | " + " | ".join(
            f"{k} ms" for k in lat) + " |",
        "|---:|---:|---:|---:|" + "---:|" * len(lat),
        f"| {report['requests']:,} | {report['answered']:,} | {report['errors']:,} | "
        f"{report['rps']:,.1f} | " + " | ".join(_ms(v) for v in lat.values()) + " |",
        "",
        "Latency runs from the time each request was due by the schedule (not when it "
        "left) to the last byte of its answer, for answers with a status below 400.",
        "",
    ]
    if report["status"]:
        lines.append("Statuses: " + ", ".join(f"{code}: {n:,}" for code, n in
                                              report["status"].items()) + ".")
    if report["errors_by_kind"]:
        lines.append("Errors: " + ", ".join(f"{kind}: {n:,}" for kind, n in
                                            report["errors_by_kind"].items()) + ".")
        for kind, message in report["first_errors"].items():
            lines.append(f"- first {kind} error: {message}")
    lines += ["", f"Client lag (how late requests left against the schedule): max "
              f"{report['client_lag_ms']:,.1f} ms, limit {report['client_lag_limit_ms']:g} ms.",
              ""]
    if report["slo"]["terms"]:
        verdict = "passed" if report["slo"]["pass"] else "FAILED"
        lines += [f"## SLO: {verdict}", "", "| term | observed | |", "|---|---:|---|"]
        lines += [f"| `{t['term']}` | {t['value']:,.4g} | {'pass' if t['pass'] else 'FAIL'} |"
                  for t in report["slo"]["terms"]]
        if report["slo"].get("knee"):
            lines += ["", _knee_words(report["slo"]["knee"]) + "."]
        lines.append("")
    lines += _ingress_section(report)
    lines += [f"![{name.removesuffix('.png')}]({name})" for name in plots]
    if not plots:
        lines.append("No plots: they need matplotlib (`pip install 'portico[loadtest]'`); "
                     "`portico loadtest --compare DIR` draws them from this report later.")
    return "\n".join(lines) + "\n"


def _ingress_section(report: Report) -> list[str]:
    admin, churn = report.get("admin"), report.get("churn")
    if not admin and not churn:
        return []
    lines = ["## The ingress during the run", ""]
    if churn:
        lines.append(f"- `--churn {churn['dir']}`: {len(churn['changes'])} configuration "
                     f"changes, one every {churn['every_s']:g} s.")
    if admin:
        reloads = sum(r["count"] for r in report["reloads"])
        lines.append(f"- {admin['url']}: {admin['scrapes']} scrapes, {reloads} table swaps "
                     "(marked on the latency plot).")
        if admin["requests"] is not None:
            lines.append(f"- The ingress counted {admin['requests']:,.0f} requests in that "
                         "time (all its traffic, not only this run's).")
        for name, h in admin["histograms_ms"].items():
            quantiles = ", ".join(f"{k} ≈ {_ms(v)} ms" for k, v in h.items() if k != "count")
            lines.append(f"- `{name}` over the run ({h['count']:,.0f} observations, "
                         f"from its buckets): {quantiles}.")
    return [*lines, ""]
