"""`portico loadtest URL`: the command line, and one run from flags to report."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from ingress.loadtest.admin import AdminWatch, metrics_url
from ingress.loadtest.arguments import DEFAULT_DURATION, DEFAULT_POOL
from ingress.loadtest.churn import Churn
from ingress.loadtest.client import Plan
from ingress.loadtest.generators import run_generators
from ingress.loadtest.histogram import HIGHEST_US
from ingress.loadtest.plots import PlotsUnavailable, write_comparison, write_plots
from ingress.loadtest.progress import Progress, colors_for
from ingress.loadtest.report import (
    Report,
    Run,
    build_report,
    exit_status,
    headline,
    readme,
    summary_lines,
)
from ingress.loadtest.request import RequestSpec, Target, insecure_tls_context, parse_header
from ingress.loadtest.schedule import Schedule, parse_duration, parse_stages
from ingress.loadtest.series import Series
from ingress.loadtest.slo import Term, knee, parse_slo

USAGE_ERROR = 2


class UsageError(ValueError):
    pass


def _duration(text: str, flag: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise UsageError(f"{flag}: {error}") from None
    return seconds


def _spec(args: argparse.Namespace) -> RequestSpec:
    try:
        headers = tuple(parse_header(h) for h in args.header)
        body = args.body_file.read_bytes() if args.body_file else b""
        if args.streams < 1:
            raise ValueError("--streams: must be at least 1")
        spec = RequestSpec(args.url, args.host, args.method, headers, body, args.insecure,
                           args.streams if args.http2 else 0)
        Target.from_spec(spec)  # every generator builds its own; fail here, once, if at all
    except OSError as error:
        raise UsageError(f"--body-file: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageError(str(error)) from None
    return spec


def _schedule(args: argparse.Namespace) -> tuple[str, Schedule | None, float]:
    if args.stages is not None:
        if args.rate is not None or args.duration is not None:
            raise UsageError("--stages sets rate and duration: drop --rate/--duration")
        try:
            schedule = parse_stages(args.stages)
        except ValueError as error:
            raise UsageError(f"--stages: {error}") from None
        return "stages", schedule, schedule.duration
    duration = _duration(args.duration, "--duration") if args.duration else DEFAULT_DURATION
    if duration <= 0:
        raise UsageError("--duration: must be more than 0 s")
    if args.rate is not None:
        try:
            return "rate", Schedule.constant(args.rate, duration), duration
        except ValueError as error:
            raise UsageError(f"--rate: {error}") from None
    if args.connections is None:
        raise UsageError("choose the load: --rate N, --stages SPEC or --connections N")
    return "connections", None, duration


def _plans(args: argparse.Namespace, spec: RequestSpec, schedule: Schedule | None,
           duration: float, timeout: float) -> list[Plan]:
    processes = args.processes
    connections = args.connections if args.connections is not None else DEFAULT_POOL
    if processes < 1:
        raise UsageError("--processes: must be at least 1")
    if connections < processes:
        raise UsageError(f"--connections {connections}: at least one per process "
                         f"(--processes {processes})")
    return [Plan(spec, schedule, duration, connections // processes
                 + (1 if k < connections % processes else 0), timeout, k, processes)
            for k in range(processes)]


def _load_words(mode: str, plans: Sequence[Plan], schedule: Schedule | None) -> str:
    connections = sum(p.connections for p in plans)
    spread = f" from {len(plans)} processes" if len(plans) > 1 else ""
    streams = plans[0].request.streams
    if streams:
        sessions = sum(-(-p.connections // streams) for p in plans)
        spread = f" (HTTP/2 streams on {sessions} connections){spread}"
    if mode == "connections":
        return f"closed loop over {connections} connections{spread}"
    assert schedule is not None
    if mode == "rate":
        rate = schedule.peak_rate()
        return f"open loop at {rate:,.0f} rps over {connections} connections{spread}"
    steps = ", ".join(f"{s.length:g} s to {s.to_rate:,.0f} rps" for s in schedule.segments)
    return f"open-loop stages ({steps}) over {connections} connections{spread}"


async def _wait_ready(spec: RequestSpec, seconds: float) -> None:
    """Poll the URL until it answers below 400 (a route being configured answers 404/503)."""
    deadline = time.monotonic() + seconds
    tls = insecure_tls_context() if spec.insecure else True
    headers = {"Host": spec.host} if spec.host else {}
    last = "no answer"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(spec.url, headers=headers, ssl=tls,
                                       allow_redirects=False) as response:
                    if response.status < 400:
                        return
                    last = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as error:
                last = str(error) or type(error).__name__
            await asyncio.sleep(0.2)
    raise UsageError(f"--wait: {spec.url} did not answer below 400 within {seconds:g} s "
                     f"(last: {last})")


async def _measure(args: argparse.Namespace, terms: Sequence[Term]) -> Run:
    spec = _spec(args)
    mode, schedule, duration = _schedule(args)
    timeout = _duration(args.timeout, "--timeout")
    if not 0 < timeout <= HIGHEST_US / 1e6:
        raise UsageError("--timeout: must be more than 0 s and at most 1 h")
    plans = _plans(args, spec, schedule, duration, timeout)
    admin = AdminWatch(metrics_url(args.admin)) if args.admin else None
    try:
        churn = Churn(args.churn, _duration(args.churn_every, "--churn-every")) if args.churn \
            else None
    except ValueError as error:
        raise UsageError(str(error)) from None
    if _duration(args.wait, "--wait") > 0:
        await _wait_ready(spec, _duration(args.wait, "--wait"))

    progress = Progress(sys.stderr, duration, args.max_lag,
                        lambda: sum(r.count for r in admin.reloads) if admin else 0)
    percentiles = [50.0, 90.0, 99.0, *(t.percentile for t in terms if t.percentile)]
    series = Series(len(plans), percentiles,
                    schedule.target_in_second if schedule is not None else None,
                    on_second=progress.second)
    stop = asyncio.Event()
    watchers = [asyncio.create_task(w.run(stop)) for w in (admin, churn) if w is not None]
    try:
        totals = await run_generators(plans, series.add)
    finally:
        stop.set()
        await asyncio.gather(*watchers)
        progress.done()
    series.finish()
    first_errors: dict[str, str] = {}
    for t in totals:
        for kind, message in t.first_errors.items():
            first_errors.setdefault(kind, message)
    return Run(
        url=spec.url, host=spec.host, method=spec.method.upper(), mode=mode,
        load=_load_words(mode, plans, schedule),
        started_unix=time.time() - (time.monotonic() - totals[0].t0),
        duration=duration, seconds=series.seconds, total=series.total,
        sent=sum(t.sent for t in totals), first_errors=first_errors,
        processes=len(plans), lag_limit_ms=args.max_lag, terms=terms,
        knee=knee(terms, series.seconds, args.max_lag) if mode == "stages" and terms else None,
        admin=admin, churn=churn,
    )


def _default_out(prefix: str) -> Path:
    return Path(f"{prefix}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")


def _plots(report: Report, out: Path, wanted: bool) -> list[str]:
    if not wanted:
        return []
    try:
        return write_plots(report, out)
    except PlotsUnavailable as error:
        print(f"portico loadtest: {error}; report.json and README.md written without them",
              file=sys.stderr)
        return []


def write_run(report: Report, out: Path, plots: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "README.md").write_text(readme(report, _plots(report, out, plots)))


def _load_report(directory: Path) -> Report:
    path = directory / "report.json" if directory.is_dir() else directory
    try:
        report: Report = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"--compare {directory}: no readable report.json ({error})") from None
    return report


def compare(directories: Sequence[Path], out: Path | None) -> int:
    reports = [(d.name if d.is_dir() else d.parent.name, _load_report(d)) for d in directories]
    try:
        if len(reports) == 1:  # redraw one run, from its report alone
            report, target = reports[0][1], out or directories[0]
            target.mkdir(parents=True, exist_ok=True)
            (target / "README.md").write_text(readme(report, write_plots(report, target)))
            print(f"plots: {target}")
            return 0
        target = out or _default_out("loadtest-compare")
        target.mkdir(parents=True, exist_ok=True)
        names = write_comparison(reports, target)
    except PlotsUnavailable as error:
        print(f"portico loadtest --compare: {error}", file=sys.stderr)
        return USAGE_ERROR
    (target / "README.md").write_text(_comparison_readme(reports, names))
    print(f"comparison: {target / 'README.md'}")
    return 0


def _comparison_readme(reports: Sequence[tuple[str, Report]], plots: Sequence[str]) -> str:
    lines = ["# Load tests compared", "",
             "| run | load | requests | answers/s | errors | p50 ms | p99 ms | p99.9 ms | max ms "
             "| reloads |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in reports:
        lat: dict[str, Any] = r["latency_ms"]
        cells = " | ".join(f"{lat.get(k, 0.0):,.2f}" for k in ("p50", "p99", "p99.9", "max"))
        reloads = sum(x["count"] for x in r["reloads"])
        lines.append(f"| {name} | {r['load']} | {r['requests']:,} | {r['rps']:,.0f} | "
                     f"{r['errors']:,} | {cells} | {reloads} |")
    lines.append("")
    lines += [f"- {name}: {headline(r)}" for name, r in reports]
    lines.append("")
    lines += [f"![{p.removesuffix('.png')}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    try:
        if args.compare:
            if args.url:
                raise UsageError("--compare takes report directories, not a URL")
            return compare(args.compare, args.out)
        if not args.url:
            raise UsageError("a URL to load is required (or --compare DIR ...)")
        try:
            terms = parse_slo(args.slo) if args.slo else ()
        except ValueError as error:
            raise UsageError(f"--slo: {error}") from None
        run = uvloop.run(_measure(args, terms))
    except (UsageError, RuntimeError) as error:  # RuntimeError: a generator process died
        print(f"portico loadtest: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("\nportico loadtest: interrupted; no report", file=sys.stderr)
        return 130
    report = build_report(run)
    out = args.out or _default_out("loadtest")
    write_run(report, out, plots=not args.no_plots)
    print("\n".join(summary_lines(report, colors_for(sys.stdout))))
    print(f"report: {out / 'README.md'}")
    return exit_status(report)
