"""PNG plots drawn from report.json alone: one run's four, or several runs overlaid.

matplotlib is optional (`pip install 'portico[loadtest]'`): a run without it
still writes report.json and README.md, and its plots can be drawn later,
anywhere, with `portico loadtest --compare DIR`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Report = dict[str, Any]
NINES = (0.0, 90.0, 99.0, 99.9, 99.99, 99.999)


class PlotsUnavailable(RuntimeError):
    pass


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotsUnavailable(
            "plots need matplotlib: pip install 'portico[loadtest]'") from None
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _plain_log_axis(ax: Axes) -> None:
    """A log y axis labelled 0.5, 2, 10, … rather than in powers of ten."""
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    # Of the minor ticks, label 2 and 5 of each decade only.
    ax.yaxis.set_minor_formatter(FuncFormatter(
        lambda value, _: f"{value:g}" if f"{value:e}"[0] in "25" else ""))


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)


def _title(report: Report) -> str:
    host = f" (Host {report['host']})" if report["host"] else ""
    return f"{report['url']}{host}: {report['load']}"


def _span(report: Report) -> float:
    """The x axis: the schedule, and the seconds answers kept arriving after it."""
    return float(max(report["duration_s"], len(report["per_second"]), 1))


def _mid(second: dict[str, Any]) -> float:
    return float(second["t"]) + 0.5


def _mark_reloads(ax: Axes, report: Report) -> None:
    for i, reload in enumerate(report["reloads"]):
        label = "table swap (admin)" if i == 0 else None
        ax.axvline(reload["t"], color="tab:red", linestyle="--", linewidth=0.9, alpha=0.7,
                   label=label)


def _mark_client_lag(ax: Axes, report: Report) -> None:
    """Shade the seconds the client fell behind in: their latencies include its delay."""
    behind = [s for s in report["per_second"] if s["lag_ms"] > report["client_lag_limit_ms"]]
    for i, second in enumerate(behind):
        ax.axvspan(second["t"], second["t"] + 1, color="grey", alpha=0.2, linewidth=0,
                   label="client behind" if i == 0 else None)


def plot_latency(report: Report, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5), constrained_layout=True)
    seconds = [s for s in report["per_second"] if s["max"] > 0]
    xs = [_mid(s) for s in seconds]
    for key, style in (("max", ":"), ("p99", "-"), ("p90", "-"), ("p50", "-")):
        ax.plot(xs, [s[key] for s in seconds], style, marker=".", label=key)
    _mark_reloads(ax, report)
    _mark_client_lag(ax, report)
    _plain_log_axis(ax)
    ax.set_xlim(0, _span(report))
    ax.set_xlabel("seconds into the run (each point: the answers that finished in that second)")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title(_title(report), fontsize="medium")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", ncols=6)
    _save(fig, path)


def _spectrum_axes(ax: Axes) -> None:
    ax.set_xscale("log")
    ticks = [1 / (1 - p / 100) for p in NINES]
    ax.set_xticks(ticks, [f"{p:g}%" for p in NINES])
    ax.minorticks_off()
    ax.set_xlabel("percentile (axis: 1 / (1 - p), each step one more nine)")
    ax.set_ylabel("latency, ms")
    ax.grid(alpha=0.3)


def _spectrum_line(ax: Axes, report: Report, label: str | None) -> None:
    points = [(p, ms) for p, ms in report["spectrum"] if p < 100]
    ax.plot([1 / (1 - p / 100) for p, _ in points], [ms for _, ms in points], marker=".",
            label=label)


def plot_spectrum(report: Report, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    _spectrum_axes(ax)
    if report["spectrum"]:
        _spectrum_line(ax, report, "latency")
        ax.axhline(report["latency_ms"]["max"], color="grey", linestyle=":", label="max")
        ax.legend(fontsize="small")
    ax.set_title(f"HDR percentile spectrum: {_title(report)}", fontsize="medium")
    _save(fig, path)


def plot_rate(report: Report, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4), constrained_layout=True)
    seconds = report["per_second"]
    xs = [_mid(s) for s in seconds]
    if any(s["target"] is not None for s in seconds):
        ax.plot(xs, [s["target"] or 0 for s in seconds], "--", color="grey", label="target")
    ax.plot(xs, [s["rps"] for s in seconds], marker=".", label="achieved (answers)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(0, _span(report))
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("requests / s")
    ax.set_title(f"Rate: {_title(report)}", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, path)


def _outcomes(seconds: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    kinds = sorted({k for s in seconds for k in s["status"]}) + sorted(
        {k for s in seconds for k in s["error_kinds"]})
    return {k: [s["status"].get(k, s["error_kinds"].get(k, 0)) for s in seconds] for k in kinds}


def plot_status(report: Report, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4), constrained_layout=True)
    seconds = report["per_second"]
    xs = [_mid(s) for s in seconds]
    bottom = [0] * len(seconds)
    for kind, counts in _outcomes(seconds).items():
        label = f"HTTP {kind}" if kind.isdigit() else kind
        ax.bar(xs, counts, width=0.9, bottom=bottom, label=label,
               color="tab:green" if kind.startswith("2") else None)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    _mark_reloads(ax, report)
    ax.set_xlim(0, _span(report))
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("outcomes / s")
    ax.set_title(f"Statuses and errors: {_title(report)}", fontsize="medium")
    ax.legend(fontsize="small", ncols=4)
    _save(fig, path)


def write_plots(report: Report, out: Path) -> list[str]:
    """The four plots of one run into `out`; their file names."""
    plot_latency(report, out / "latency.png")
    plot_spectrum(report, out / "spectrum.png")
    plot_rate(report, out / "rate.png")
    plot_status(report, out / "status.png")
    return ["latency.png", "spectrum.png", "rate.png", "status.png"]


def write_comparison(reports: Sequence[tuple[str, Report]], out: Path) -> list[str]:
    """Several runs overlaid: p99 over time, the spectra, the achieved rates."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5), constrained_layout=True)
    for name, report in reports:
        seconds = [s for s in report["per_second"] if s["max"] > 0]
        (line,) = ax.plot([_mid(s) for s in seconds], [s["p99"] for s in seconds], marker=".",
                          label=f"{name} p99")
        ax.plot([_mid(s) for s in seconds], [s["p50"] for s in seconds], ":",
                color=line.get_color(), label=f"{name} p50")
        for reload in report["reloads"]:
            ax.axvline(reload["t"], color=line.get_color(), linestyle="--", alpha=0.5)
    _plain_log_axis(ax)
    ax.set_xlabel("seconds into the run (dashed: table swaps)")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title("Latency over time", fontsize="medium")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", ncols=2)
    _save(fig, out / "latency.png")

    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    _spectrum_axes(ax)
    for name, report in reports:
        if report["spectrum"]:
            _spectrum_line(ax, report, name)
    ax.set_title("HDR percentile spectrum", fontsize="medium")
    ax.legend(fontsize="small")
    _save(fig, out / "spectrum.png")

    fig, ax = plt.subplots(figsize=(10, 4), constrained_layout=True)
    for name, report in reports:
        seconds = report["per_second"]
        ax.plot([_mid(s) for s in seconds], [s["rps"] for s in seconds], marker=".", label=name)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("answers / s")
    ax.set_title("Achieved rate", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, out / "rate.png")
    return ["latency.png", "spectrum.png", "rate.png"]
