"""Ways of consuming kopf's watches, timed to "every object listed" against N objects of each kind.

The emulated API server (a process of its own, `harness/apiserver.py`) holds
N Ingresses, N Services and N EndpointSlices (`harness/cluster.py`, dressed
as `kubectl apply` leaves them). Each option runs in a fresh process, and
the time from starting it to having every object is measured:

- `index+event`: `@kopf.index` handlers store the objects, `@kopf.on.event`
  handlers see changes; listed = the first event handler call, which kopf
  holds back until every index is filled (how Portico used kopf before);
- `event`: `@kopf.on.event` handlers only (one task per object, no index);
  listed = every object seen;
- `stream`: one task per kind reading kopf's list-then-watch stream, as
  Portico does now (`ingress.operator.feed.ObjectFeed`); listed = every
  kind's listing mark.

    python -m benchmarks.kopf_options [--sizes 500,1000,2000,4000,10000] [--timeout 240]

Prints a table and writes `kopf_options.json` and `kopf_options.png` to `--out`
(default `benchmarks/results/scale-<date>/`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.harness import cluster

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ("index+event", "event", "stream")
KINDS = (("networking.k8s.io/v1", "ingresses"), ("networking.k8s.io/v1", "ingressclasses"),
         ("v1", "services"), ("discovery.k8s.io/v1", "endpointslices"))


def start_api(workdir: Path, count: int) -> tuple[subprocess.Popen[bytes], str]:
    objects_file, port_file = workdir / "objects.json", workdir / "port"
    port_file.unlink(missing_ok=True)
    objects_file.write_text(json.dumps([cluster.as_applied(o)
                                        for o in cluster.cluster_objects(count)]))
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.harness.apiserver",
                             str(objects_file), "--port-file", str(port_file)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not port_file.exists() or not port_file.read_text():
        if proc.poll() is not None:
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port_file.read_text()}"


async def kopf_handlers(url: str, expected: int, with_index: bool) -> float:
    import kopf

    started = time.monotonic()
    listed = asyncio.Event()
    seen: set[tuple[str, str, str]] = set()
    registry = kopf.OperatorRegistry()

    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url)

    kopf.on.login(registry=registry)(login)

    def store(plural: str, body: kopf.Body) -> None:
        seen.add((plural, body.metadata.namespace or "", body.metadata.name or ""))
        if not with_index and len(seen) >= expected:
            listed.set()

    for group_version, plural in KINDS:
        def index(body: kopf.Body, plural: str = plural, **_: Any) -> None:
            store(plural, body)

        def event(body: kopf.Body, plural: str = plural, **_: Any) -> None:
            if with_index:
                listed.set()
            else:
                store(plural, body)

        if with_index:
            kopf.index(group_version, plural, registry=registry, id=f"i-{plural}")(index)
        kopf.on.event(group_version, plural, registry=registry, id=f"e-{plural}")(event)
    settings = kopf.OperatorSettings()
    settings.peering.standalone = True
    settings.posting.enabled = False
    settings.scanning.disabled = True
    running = asyncio.create_task(
        kopf.operator(registry=registry, settings=settings, clusterwide=True))
    return await until(listed, running, started)


async def until(listed: asyncio.Event, running: asyncio.Task[Any], started: float) -> float:
    """Seconds from `started` until `listed` is set; fails if `running` ends first."""
    waiter = asyncio.create_task(listed.wait())
    await asyncio.wait([running, waiter], return_when=asyncio.FIRST_COMPLETED)
    if not listed.is_set():
        raise RuntimeError(f"stopped before listing everything: {running.exception()!r}")
    return time.monotonic() - started


async def stream(url: str) -> float:
    import kopf

    from ingress.operator.feed import WATCHED, ObjectFeed, SecretFilter
    from ingress.operator.metrics import OperatorMetrics
    from ingress.operator.watch import Credentials, watch_settings
    from ingress.store import Store

    started = time.monotonic()
    listed = asyncio.Event()
    feed = ObjectFeed(Store(), listed.set, OperatorMetrics(), SecretFilter(), lambda: None)
    credentials = Credentials(lambda: kopf.ConnectionInfo(server=url))
    fresh = asyncio.create_task(credentials.keep_fresh())
    running = asyncio.create_task(feed.run(credentials, watch_settings(WATCHED), None))
    try:
        return await until(listed, running, started)
    finally:
        fresh.cancel()


async def one(option: str, url: str, expected: int) -> None:
    """In a fresh process: time one option, print the seconds, exit without tearing down
    (kopf's operator takes its time to stop, and nothing here needs stopping)."""
    if option == "stream":
        seconds = await stream(url)
    else:
        seconds = await kopf_handlers(url, expected, option == "index+event")
    print(f"{seconds:.3f}", flush=True)
    os._exit(0)


def measure(option: str, url: str, expected: int, timeout: float) -> float | None:
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.kopf_options", "--one", option, "--url", url,
             "--expect", str(expected)],
            cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    return float(proc.stdout.split()[-1])


def plot(path: Path, results: dict[str, dict[int, float | None]], timeout: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), constrained_layout=True)
    for option, points in results.items():
        xs = [n for n, s in sorted(points.items()) if s is not None]
        ax.plot(xs, [points[n] for n in xs], marker="o", label=option)
    ax.axhline(timeout, color="grey", linestyle=":", label=f"gave up after {timeout:.0f} s")
    ax.set_xlabel("Ingresses (each with a Service and an EndpointSlice)")
    ax.set_ylabel("seconds until every object is listed")
    ax.set_title("Consuming kopf's watches: start-up against the number of objects")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,1000,2000,4000,10000")
    parser.add_argument("--options", default=",".join(OPTIONS))
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one", choices=OPTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        asyncio.run(one(args.one, args.url, args.expect))
    options = args.options.split(",")
    results: dict[str, dict[int, float | None]] = {option: {} for option in options}
    gave_up: set[str] = set()
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="portico-kopf-") as tmp:
            api, url = start_api(Path(tmp), size)
            try:
                for option in options:
                    if option in gave_up:  # it will not get faster with more objects
                        results[option][size] = None
                        continue
                    seconds = measure(option, url, 3 * size + 1, args.timeout)
                    results[option][size] = seconds
                    if seconds is None:
                        gave_up.add(option)
                    shown = "—" if seconds is None else f"{seconds:.1f} s"
                    print(f"{size:>6} Ingresses, {option}: {shown}", file=sys.stderr, flush=True)
            finally:
                api.terminate()
                api.wait()
    out = args.out or ROOT / "benchmarks" / "results" / f"scale-{datetime.now(UTC):%Y-%m-%d}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "kopf_options.json").write_text(json.dumps(
        {"timeout_s": args.timeout, "load_average": os.getloadavg()[1], "results": results},
        indent=1))
    plot(out / "kopf_options.png", results, args.timeout)
    sizes = sorted({n for points in results.values() for n in points})
    print("| option | " + " | ".join(f"{n:,}" for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for option, points in results.items():
        cells = [f"> {args.timeout:.0f}" if points.get(n) is None else f"{points[n]:.1f}"
                 for n in sizes]
        print(f"| {option} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
