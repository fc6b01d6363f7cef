"""`portico loadtest` against servers whose behaviour is known: what it measures must match.

The server under test (latency_server.py) runs in its own process; the load
tester runs in this one, through the same entry point as the command line.
Runs are short (1-8 s) and loopback only. The client-lag limit is raised
where lag is not the subject: this shared test machine schedules unevenly.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.harness import free_port, serving
from ingress.cli import main as cli_main
from ingress.loadtest.arguments import DEFAULT_LAG_LIMIT_MS
from kube import objects as o

SERVER = Path(__file__).with_name("latency_server.py")
# Lag is not the subject here; drawing is tested once (compare) and costs seconds.
QUIET = ("--max-lag", "5000", "--no-plots")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, str(SERVER)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def loadtest(out: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code = cli_main(["loadtest", *args, "--out", str(out)])
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return code, report


def known(lat: dict[str, float]) -> bool:
    """Whether `lat` shows the distribution of /slow-every/50/50 (asserted one by one below)."""
    return (lat["p50"] < 10 and lat["p90"] < 20 and 50 <= lat["p99"] <= 90
            and 50 <= lat["p99.9"] <= 120)


# Milliseconds are the subject: `make test` runs this with the other `bench` tests, after the
# rest, so that the suite's other process cannot take the CPU this one needs.
@pytest.mark.bench
def test_percentiles_match_a_known_distribution(server: str, tmp_path: Path) -> None:
    # Every 50th request answers 50 ms late: 2% slow, 98% fast. Latency is the subject, and
    # a client that sends late charges its lag to each request: a run that misses the
    # numbers while the client fell behind (its lag over the tool's default limit, as on a
    # starved machine) does not count, and runs again, up to three times.
    for attempt in range(3):
        code, report = loadtest(tmp_path / str(attempt), f"{server}/slow-every/50/50",
                                "--rate", "500", "--duration", "2s",
                                "--slo", "p99.9<2s,errors<0.1%", *QUIET)
        if report["client_lag_ms"] <= DEFAULT_LAG_LIMIT_MS or known(report["latency_ms"]):
            break
    assert code == 0
    assert report["requests"] == report["answered"] == 1000
    assert report["status"] == {"200": 1000}
    lat = report["latency_ms"]
    assert lat["p50"] < 10
    assert lat["p90"] < 20
    assert 50 <= lat["p99"] <= 90
    assert 50 <= lat["p99.9"] <= 120
    assert lat["p99.9"] <= lat["p99.99"] <= lat["max"]
    # Each second counts what finished in it; the last answers may land just after the end.
    assert [s["rps"] for s in report["per_second"][:2]] == pytest.approx([500] * 2, abs=50)
    assert sum(s["rps"] for s in report["per_second"]) == 1000
    assert [t["pass"] for t in report["slo"]["terms"]] == [True, True]


def test_a_stall_shows_in_the_tail_and_the_second_it_happened(
    server: str, tmp_path: Path
) -> None:
    # The server blocks for 1 s, 1 s into the run. Open loop: every request due
    # in that second waits for it, and is charged from when it was due.
    code, report = loadtest(tmp_path / "open", f"{server}/stall-once/1000/1000",
                            "--rate", "200", "--duration", "3s", *QUIET)
    assert code == 0 and report["errors"] == 0
    assert report["latency_ms"]["p99.9"] >= 900
    assert report["latency_ms"]["p99"] >= 500
    seconds = report["per_second"]
    assert min(s["rps"] for s in seconds) < 60  # hardly anything finished during the stall
    assert max(s["max"] for s in seconds) >= 900
    # A closed loop (wrk) sends nothing while it waits: only the requests in
    # flight see the stall, and the percentiles hide it.
    _, closed = loadtest(tmp_path / "closed", f"{server}/stall-once/501/1000",
                         "--connections", "2", "--duration", "2s", *QUIET)
    assert closed["latency_ms"]["max"] >= 900
    assert closed["latency_ms"]["p99"] < 100


def test_every_kind_of_error_is_counted(server: str, tmp_path: Path) -> None:
    code, report = loadtest(tmp_path / "mix", f"{server}/mix", "--rate", "100",
                            "--duration", "1s", "--timeout", "500ms", "--slo", "errors<1%",
                            *QUIET)
    assert code == 1  # the SLO failed
    assert report["errors_by_kind"] == {"reset": 10, "timeout": 10, "404": 10, "503": 10}
    assert report["errors"] == 40
    assert report["status"] == {"200": 60, "404": 10, "503": 10}
    assert report["slo"]["pass"] is False
    assert report["slo"]["terms"] == [{"term": "errors<1%", "value": 40.0, "pass": False}]
    assert sum(s["errors"] for s in report["per_second"]) == 40

    nothing = f"http://127.0.0.1:{free_port()}/"
    code, refused = loadtest(tmp_path / "refused", nothing, "--rate", "20", "--duration", "1s",
                             *QUIET)
    assert code == 1  # nothing answered
    assert refused["errors_by_kind"] == {"connect": 20}
    assert "refused" in refused["first_errors"]["connect"].lower()


def test_stages_find_the_knee_of_a_server_that_saturates(server: str, tmp_path: Path) -> None:
    # Served one at a time, 1/150 s each: 150 rps at most. Ramp 0 → 300 rps in 6 s.
    code, report = loadtest(tmp_path, f"{server}/capacity/150", "--stages", "6s:300",
                            "--slo", "p99<100ms", "--timeout", "3s", *QUIET)
    assert code == 1  # past the knee the SLO fails
    knee = report["slo"]["knee"]
    assert 100 <= knee["rps"] <= 200
    assert knee["failed_at_rps"] > knee["rps"]
    seconds = report["per_second"]
    assert [s["target"] for s in seconds[:6]] == pytest.approx([25 + 50 * i for i in range(6)])
    assert all(s["target"] == 0 for s in seconds[6:])  # the queue draining after the end
    # The server never answers faster than its capacity, whatever was asked.
    assert max(s["rps"] for s in seconds) <= 160


def test_processes_share_the_schedule_and_merge_their_histograms(
    server: str, tmp_path: Path
) -> None:
    code, report = loadtest(tmp_path, f"{server}/slow-every/20/30", "--rate", "300",
                            "--duration", "1s", "--processes", "2", *QUIET)
    assert code == 0
    assert report["processes"] == 2
    assert report["requests"] == report["answered"] == 300
    assert sum(s["rps"] for s in report["per_second"]) == 300
    assert report["latency_ms"]["p99"] >= 30  # the 5% slow answers, from both processes


def test_a_client_that_falls_behind_says_so_in_its_exit_status(
    server: str, tmp_path: Path
) -> None:
    # The client's thread stops for 300 ms mid-run, as a long GC pause or a
    # starved CPU would stop it: the requests due meanwhile leave late.
    signal.signal(signal.SIGALRM, lambda *_: time.sleep(0.3))
    signal.setitimer(signal.ITIMER_REAL, 0.4)
    try:
        code, report = loadtest(tmp_path, f"{server}/fast", "--rate", "200", "--duration", "1s",
                                "--max-lag", "100", "--no-plots")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    assert report["client_behind"] is True
    assert report["client_lag_ms"] >= 250
    assert code == 3
    assert "THE CLIENT FELL BEHIND" in (tmp_path / "README.md").read_text()


def test_reloads_are_read_from_the_admin_port_and_churn_loses_nothing(tmp_path: Path) -> None:
    with serving(tmp_path, ["127.0.0.2"], [o.ingress("app", host="app.test")]) as (
            portico, manifests):
        code, report = loadtest(tmp_path / "run", f"{portico.url}/", "--host", "app.test",
                                "--rate", "200", "--duration", "2s", "--admin", portico.admin,
                                "--churn", str(manifests.root), "--churn-every", "0.4s",
                                "--slo", "errors<0.01%", *QUIET)
    assert code == 0
    assert report["errors"] == 0 and report["answered"] == 400
    assert len(report["churn"]["changes"]) >= 3
    reloads = report["reloads"]
    assert sum(r["count"] for r in reloads) >= 3  # each change is a swapped table
    assert all(0 < r["t"] < 2.5 for r in reloads)
    assert report["admin"]["error"] is None and report["admin"]["reload_metric"] is True
    assert report["admin"]["requests"] >= 400
    assert "portico_upstream_response_seconds" in report["admin"]["histograms_ms"]
    assert not list(manifests.root.glob("*churn*"))  # the churn file is gone again
    readme = (tmp_path / "run" / "README.md").read_text()
    assert "table swaps" in readme


def test_compare_overlays_runs_and_redraws_one(server: str, tmp_path: Path) -> None:
    for name, rate in (("before", "100"), ("after", "200")):
        loadtest(tmp_path / name, f"{server}/fast", "--rate", rate, "--duration", "0.5s",
                 *QUIET)
    assert not (tmp_path / "before" / "latency.png").exists()
    assert cli_main(["loadtest", "--compare", str(tmp_path / "before"), str(tmp_path / "after"),
                     "--out", str(tmp_path / "vs")]) == 0
    for plot in ("latency.png", "spectrum.png", "rate.png"):
        assert (tmp_path / "vs" / plot).stat().st_size > 10_000
    table = (tmp_path / "vs" / "README.md").read_text()
    assert "| before | open loop at 100 rps" in table and "| after | open loop at 200 rps" in table
    # One directory: its own plots, drawn from its report.json alone.
    assert cli_main(["loadtest", "--compare", str(tmp_path / "before")]) == 0
    for plot in ("latency.png", "spectrum.png", "rate.png", "status.png"):
        assert (tmp_path / "before" / plot).stat().st_size > 10_000
    assert "![latency](latency.png)" in (tmp_path / "before" / "README.md").read_text()


def test_without_matplotlib_the_report_is_written_and_says_how_to_get_plots(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    code, report = loadtest(tmp_path, f"{server}/fast", "--rate", "50", "--duration", "0.2s",
                            "--max-lag", "5000")
    assert code == 0 and report["answered"] == 10
    assert "pip install 'portico[loadtest]'" in capsys.readouterr().err
    assert "No plots" in (tmp_path / "README.md").read_text()
    assert not list(tmp_path.glob("*.png"))
    assert cli_main(["loadtest", "--compare", str(tmp_path)]) == 2


@pytest.mark.parametrize(("args", "message"), [
    (["http://127.0.0.1:1/"], "choose the load"),
    (["ftp://x/", "--rate", "1"], "want http(s)"),
    (["http://x/", "--stages", "10s"], "want DURATION:RATE"),
    (["http://x/", "--stages", "1s:5", "--rate", "3"], "drop --rate"),
    (["http://x/", "--rate", "1", "--slo", "p99<50"], "needs a unit"),
    (["http://x/", "--rate", "1", "--header", "Host: y"], "use --host"),
    (["http://x/", "--connections", "1", "--processes", "2"], "at least one per process"),
    (["http://x/", "--rate", "1", "--http2", "--streams", "0"], "--streams"),
])
def test_bad_flags_are_refused_naming_the_flag(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["loadtest", *args]) == 2
    assert message in capsys.readouterr().err
