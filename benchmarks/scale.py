"""Portico with 100 to 10,000 Ingresses: start-up, memory, and endpoint changes reaching traffic.

For each source (a manifests directory, or the tests' emulated API server in
a process of its own), each size and each `--workers` count, one
`portico run` process starts on a cluster of N Ingresses, each with its own
Service and EndpointSlice (`harness/cluster.py`), plus one probe Ingress
whose Service has one real loopback pod. Measured:

- *ready*: from spawning the process to `/readyz` answering 200;
- *settled*: until the rebuild counter stays still for `QUIET` seconds (the
  Kubernetes source writes every Ingress's status meanwhile, and each write
  comes back as a watch event);
- *rebuild*: `portico_config_last_rebuild_duration_seconds` after the
  routing changes below (an endpoint change is no rebuild);
- *RSS/PSS* of the whole process tree (supervisor and workers), the
  largest sample taken after readiness, after settling and after each change;
- *change → traffic*: the probe's only endpoint moves to the other pod
  (PATCH of the EndpointSlice, or its manifest file rewritten), then requests
  on fresh connections, so that any worker may answer, run back to back until
  `consecutive` of them in a row come from the new pod; p50/p99/max over
  `--changes` changes, and the slowest probe request meanwhile;
- *CPU per change*: CPU time of the tree over the change loop, per change;
- *table swaps*: steady keep-alive requests to the probe (`harness/steady.py`,
  a process of its own)
  for `BASELINE_S` seconds without any change (their p99), then during
  `--swaps` routing changes, each a full rebuild: the `swap` Ingress's path
  changes and requests on fresh connections wait for the new path to answer
  (*route change → traffic*). A swap that stalls a worker shows as the
  slowest request of the second window (target: under the first window's
  p99 + 20 ms); the first window's slowest shows what the machine alone does.

    python -m benchmarks.scale            # sizes 100, 1,000, 10,000; 1 and 2 workers; both sources
    python -m benchmarks.scale --sizes 1000 --sources api --workers 1
    python -m benchmarks.scale --smoke    # 20 Ingresses, 3 changes: the path works

Results go to `--out` (default `benchmarks/results/scale-<date>/`):
`README.md` (the table), `results.json`, `scale.png`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.harness import cluster
from benchmarks.harness.procs import tree_cpu_seconds, tree_memory
from benchmarks.harness.steady import Steady

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the emulator and its kubeconfig live with the tests

from e2e.harness import free_port  # noqa: E402
from kube.harness import write_kubeconfig  # noqa: E402

PODS = ("127.0.0.2", "127.0.0.3")
SOURCES = ("files", "api")
QUIET = 2.0  # seconds without a rebuild that count as settled (--smoke: SMOKE_QUIET)
SMOKE_QUIET = 0.3
READY_TIMEOUT = 300.0
CHANGE_TIMEOUT = 30.0
PUBLISH_ADDRESS = "192.0.2.1"
# Manifest files of at most this many objects, as a GitOps checkout might hold them.
OBJECTS_PER_FILE = 3_000
BASELINE_S = 5.0  # steady traffic without swaps (--smoke: 1 s)
SWAP_GAP_S = 0.3  # after a routing change is served, before the next


@dataclasses.dataclass
class Run:
    source: str
    ingresses: int
    workers: int
    ready_s: float = 0.0
    settled_s: float = 0.0
    rebuild_s: float = 0.0
    rss_mb: float = 0.0
    pss_mb: float = 0.0
    changes_ms: list[float] = dataclasses.field(default_factory=list)
    slowest_probe_ms: float = 0.0
    cpu_per_change_s: float = 0.0
    route_changes_ms: list[float] = dataclasses.field(default_factory=list)
    steady_p99_ms: float = 0.0  # steady requests without swaps
    steady_max_ms: float = 0.0  # the slowest of them: the machine's own noise
    swaps_max_ms: float = 0.0  # the slowest steady request during swaps
    steady_requests: int = 0
    error: str = ""

    @property
    def label(self) -> str:
        return f"{self.source}, {self.ingresses} Ingresses, --workers {self.workers}"

    def change_percentile(self, p: float) -> float:
        return _percentile(self.changes_ms, p)

    def route_change_percentile(self, p: float) -> float:
        return _percentile(self.route_changes_ms, p)


def _percentile(values_ms: list[float], p: float) -> float:
    """The nearest-rank percentile: one of the values, so never above the largest (a
    histogram's bucket can round it past)."""
    if not values_ms:
        return float("nan")
    ordered = sorted(values_ms)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Portico:
    """One `portico run` process and what can be read from it."""

    def __init__(self, args: list[str], workers: int, log: Path) -> None:
        self.http_port, self.admin_port = free_port(), free_port()
        self._log = log.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingress.cli", "run", *args, "--bind", "127.0.0.1",
             "--admin-bind", "127.0.0.1", "--http-port", str(self.http_port), "--https-port", "0",
             "--admin-port", str(self.admin_port), "--workers", str(workers),
             "--shutdown-delay", "0", "--log-format", "text", "--log-level", "warning"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.log = log
        self.rss_mb = self.pss_mb = 0.0

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace").splitlines()[-15:]
            raise RuntimeError(f"portico exited with {self.proc.returncode}: " + "\n".join(tail))

    def sample_memory(self) -> None:
        memory = tree_memory(self.proc.pid)
        self.rss_mb = max(self.rss_mb, memory.rss_bytes / 2**20)
        self.pss_mb = max(self.pss_mb, memory.pss_bytes / 2**20)

    async def metrics(self, http: aiohttp.ClientSession) -> dict[str, float]:
        async with http.get(f"http://127.0.0.1:{self.admin_port}/metrics") as rsp:
            text = await rsp.text()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    async def wait_ready(self, http: aiohttp.ClientSession) -> float:
        deadline = self.started + READY_TIMEOUT
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{self.admin_port}/readyz") as rsp:
                    if rsp.status == 200:
                        return time.monotonic() - self.started
            await asyncio.sleep(0.05)
        raise TimeoutError(f"not ready after {READY_TIMEOUT:.0f} s")

    async def wait_settled(self, http: aiohttp.ClientSession, quiet_s: float) -> float:
        """Seconds from the start to the last rebuild before `quiet_s` (or twice the last
        build's duration, whichever is longer) without any."""
        deadline = self.started + READY_TIMEOUT
        last, since = -1.0, time.monotonic()
        while time.monotonic() < deadline:
            self.check_alive()
            metrics = await self.metrics(http)
            rebuilds = metrics.get("portico_config_rebuilds_total", 0.0)
            quiet = max(quiet_s, 2 * metrics.get("portico_config_last_rebuild_duration_seconds", 0))
            if rebuilds != last:
                last, since = rebuilds, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return since - self.started
            await asyncio.sleep(0.1)
        raise TimeoutError(f"still rebuilding after {READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self._log.close()


class Probe:
    """Requests for the probe host, each on a new connection so any worker may take it."""

    def __init__(self, http_port: int) -> None:
        self.url = f"http://127.0.0.1:{http_port}/"
        self.slowest = 0.0
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))

    async def close(self) -> None:
        await self._session.close()

    async def pod(self) -> str | None:
        started = time.perf_counter()
        try:
            async with self._session.get(self.url, headers={"Host": cluster.PROBE_HOST}) as rsp:
                body = await rsp.json() if rsp.status == 200 else None
        except (aiohttp.ClientError, ValueError):
            return None
        self.slowest = max(self.slowest, time.perf_counter() - started)
        return None if body is None else str(body["pod"]).rpartition(":")[0]

    async def wait_for_route(self, path: str, consecutive: int, timeout: float,
                             started: float) -> float:
        """Seconds from `started` to the first of `consecutive` 200s in a row for `path` of
        the swap host."""
        first, run = 0.0, 0
        while run < consecutive:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"{cluster.SWAP_HOST}{path} not served within {timeout:.0f} s")
            try:
                async with self._session.get(self.url.rstrip("/") + path,
                                             headers={"Host": cluster.SWAP_HOST}) as rsp:
                    await rsp.read()
                    ok = rsp.status == 200
            except aiohttp.ClientError:
                ok = False
            now = time.perf_counter()
            if ok:
                first, run = (first if run else now), run + 1
            else:
                run = 0
                await asyncio.sleep(0.001)
        return first - started

    async def wait_for(self, pod: str, consecutive: int, timeout: float,
                       started: float | None = None) -> float:
        """Seconds from `started` (default: now) to the first of `consecutive` answers in a row
        from `pod`."""
        started = time.perf_counter() if started is None else started
        first, run = 0.0, 0
        while run < consecutive:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"traffic did not move to {pod} within {timeout:.0f} s")
            answered = await self.pod()
            now = time.perf_counter()
            if answered == pod:
                first, run = (first if run else now), run + 1
            else:
                run = 0
                await asyncio.sleep(0.001)
        return first - started


class ManifestCluster:
    """The cluster as a manifests directory; a change rewrites the probe slice's file."""

    def __init__(self, directory: Path, count: int, pod_port: int) -> None:
        self.directory = directory
        self.pod_port = pod_port
        directory.mkdir()
        objects = cluster.cluster_objects(count) + cluster.probe_objects(PODS[0], pod_port)[:2]
        for n, start in enumerate(range(0, len(objects), OBJECTS_PER_FILE)):
            _write_list(directory / f"cluster-{n:03}.json", objects[start:start + OBJECTS_PER_FILE])
        self._write_slice(PODS[0])
        self._write_swap(0)

    def args(self) -> list[str]:
        return ["--manifests", str(self.directory)]

    async def move_probe(self, pod: str) -> None:
        self._write_slice(pod)

    async def change_route(self, version: int) -> None:
        self._write_swap(version)

    def _write_swap(self, version: int) -> None:
        _write_list(self.directory / "swap-ingress.json", [cluster.swap_ingress(version)])

    def _write_slice(self, pod: str) -> None:
        # Written aside and renamed in, as editors and ConfigMap volumes do.
        _write_list(self.directory / "probe-slice.json",
                    [cluster.probe_slice(pod, self.pod_port)])

    async def close(self) -> None:
        return None


class ApiCluster:
    """The cluster in an emulated API server (another process); a change PATCHes the slice."""

    def __init__(self, workdir: Path, count: int, pod_port: int) -> None:
        objects = [*cluster.cluster_objects(count), *cluster.probe_objects(PODS[0], pod_port),
                   cluster.swap_ingress(0)]
        objects_file, port_file = workdir / "objects.json", workdir / "apiserver.port"
        port_file.unlink(missing_ok=True)
        objects_file.write_text(json.dumps([cluster.as_applied(o) for o in objects]))
        self._log = (workdir / "apiserver.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.harness.apiserver", str(objects_file),
             "--port-file", str(port_file)],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
        )
        deadline = time.monotonic() + 120
        while not port_file.exists() or not port_file.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start: see {self._log.name}")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{int(port_file.read_text())}"
        self.kubeconfig = write_kubeconfig(workdir, self.url)
        self._http = aiohttp.ClientSession()

    def args(self) -> list[str]:
        return ["--kubeconfig", str(self.kubeconfig), "--publish-address", PUBLISH_ADDRESS]

    async def move_probe(self, pod: str) -> None:
        path = (f"/apis/discovery.k8s.io/v1/namespaces/{cluster.PROBE_NAMESPACE}"
                f"/endpointslices/{cluster.PROBE_SLICE}")
        await self._patch(path, {"endpoints": [{"addresses": [pod],
                                                "conditions": {"ready": True}}]})

    async def change_route(self, version: int) -> None:
        path = (f"/apis/networking.k8s.io/v1/namespaces/{cluster.PROBE_NAMESPACE}"
                f"/ingresses/{cluster.SWAP_NAME}")
        await self._patch(path, {"spec": cluster.swap_ingress(version)["spec"]})

    async def _patch(self, path: str, body: dict[str, Any]) -> None:
        async with self._http.patch(self.url + path, json=body, headers={
                "Content-Type": "application/merge-patch+json"}) as rsp:
            if rsp.status >= 300:
                raise RuntimeError(f"PATCH {path}: {rsp.status} {await rsp.text()}")

    async def close(self) -> None:
        await self._http.close()
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def _write_list(path: Path, objects: list[dict[str, Any]]) -> None:
    aside = path.with_name(f".{path.name}.tmp")
    aside.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    aside.replace(path)


@contextlib.asynccontextmanager
async def source_cluster(source: str, workdir: Path, count: int,
                         pod_port: int) -> AsyncIterator[ManifestCluster | ApiCluster]:
    made: ManifestCluster | ApiCluster = (
        ManifestCluster(workdir / "manifests", count, pod_port) if source == "files"
        else ApiCluster(workdir, count, pod_port))
    try:
        yield made
    finally:
        await made.close()


@dataclasses.dataclass(frozen=True)
class Plan:
    changes: int  # endpoint changes
    swaps: int  # routing changes under steady traffic
    quiet: float  # seconds without a rebuild that count as settled
    baseline: float  # seconds of steady traffic before the swaps


async def measure(run: Run, plan: Plan, pod_port: int) -> None:
    with tempfile.TemporaryDirectory(prefix="portico-scale-") as tmp:
        workdir = Path(tmp)
        async with source_cluster(run.source, workdir, run.ingresses, pod_port) as objects:
            portico = Portico(objects.args(), run.workers, workdir / "portico.log")
            probe = Probe(portico.http_port)
            try:
                async with aiohttp.ClientSession() as http:
                    run.ready_s = await portico.wait_ready(http)
                    portico.sample_memory()
                    consecutive = 1 if run.workers == 1 else 4
                    await probe.wait_for(PODS[0], consecutive, CHANGE_TIMEOUT)
                    run.settled_s = await portico.wait_settled(http, plan.quiet)
                    portico.sample_memory()
                    probe.slowest = 0.0
                    cpu_before = tree_cpu_seconds(portico.proc.pid)
                    for n in range(plan.changes):
                        pod = PODS[(n + 1) % 2]
                        started = time.perf_counter()
                        await objects.move_probe(pod)
                        moved = await probe.wait_for(pod, consecutive, CHANGE_TIMEOUT, started)
                        run.changes_ms.append(moved * 1000)
                        portico.sample_memory()
                    run.cpu_per_change_s = (
                        (tree_cpu_seconds(portico.proc.pid) - cpu_before) / max(1, plan.changes))
                    run.slowest_probe_ms = probe.slowest * 1000
                    if plan.swaps:
                        await measure_swaps(run, objects, probe, portico, plan, consecutive,
                                            workdir)
                        metrics = await portico.metrics(http)
                        run.rebuild_s = metrics["portico_config_last_rebuild_duration_seconds"]
                        portico.sample_memory()
                    run.rss_mb, run.pss_mb = portico.rss_mb, portico.pss_mb
            finally:
                await probe.close()
                portico.stop()


async def measure_swaps(run: Run, objects: ManifestCluster | ApiCluster, probe: Probe,
                        portico: Portico, plan: Plan, consecutive: int, workdir: Path) -> None:
    """Steady requests' latency without table swaps, then during `swaps` routing changes."""
    steady = Steady(portico.http_port, cluster.PROBE_HOST, workdir / "steady.samples")
    try:
        await asyncio.sleep(1.0)  # connections open, pools warm
        quiet_from = time.monotonic()
        await asyncio.sleep(plan.baseline)
        swaps_from = time.monotonic()
        for version in range(1, plan.swaps + 1):
            started = time.perf_counter()
            await objects.change_route(version)
            took = await probe.wait_for_route(f"/v{version}", consecutive, CHANGE_TIMEOUT,
                                              started)
            run.route_changes_ms.append(took * 1000)
            await asyncio.sleep(SWAP_GAP_S)
        swaps_to = time.monotonic()
    finally:
        await asyncio.to_thread(steady.stop)
    quiet = sorted(steady.between(quiet_from, swaps_from))
    during = steady.between(swaps_from, swaps_to)
    if not quiet or not during:
        raise RuntimeError("no steady requests were answered")
    run.steady_p99_ms = _percentile([s * 1000 for s in quiet], 99)
    run.steady_max_ms = quiet[-1] * 1000
    run.swaps_max_ms = max(during) * 1000
    run.steady_requests = len(quiet) + len(during)


def runs_of(sources: list[str], sizes: list[int], workers: list[int]) -> Iterator[Run]:
    for source in sources:
        for size in sizes:
            for count in workers:
                yield Run(source, size, count)


@contextlib.contextmanager
def pods(port: int) -> Iterator[None]:
    """The demo pods, each a `portico echo` process: this one's loop (probes, API calls)
    must not slow their answers down and pass for a stall of Portico's."""
    procs = [subprocess.Popen([sys.executable, "-m", "ingress.cli", "echo", "--bind", ip,
                               "--port", str(port)], stdin=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=ROOT) for ip in PODS]
    try:
        deadline = time.monotonic() + 30
        for ip in PODS:
            while True:
                with contextlib.suppress(OSError), socket.create_connection((ip, port), 1):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the demo pod on {ip}:{port} did not start")
                time.sleep(0.05)
        yield
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


async def run_all(runs: list[Run], plan: Plan) -> None:
    pod_port = free_port()
    with pods(pod_port):
        for run in runs:
            print(f"{run.label} ...", file=sys.stderr, flush=True)
            try:
                await measure(run, plan, pod_port)
            except (RuntimeError, TimeoutError, OSError, aiohttp.ClientError) as error:
                run.error = str(error)
            print(f"  {summary_line(run)}", file=sys.stderr, flush=True)


def load_runs(path: Path) -> list[Run]:
    """The runs of a results.json (an older one lacks the newer measurements)."""
    names = {f.name for f in dataclasses.fields(Run)}
    return [Run(**{k: v for k, v in raw.items() if k in names})
            for raw in json.loads(path.read_text()) if not raw.get("error")]


def summary_line(run: Run) -> str:
    if run.error:
        return f"failed: {run.error}"
    return (f"ready {run.ready_s:.1f} s, settled {run.settled_s:.1f} s, rebuild "
            f"{run.rebuild_s * 1000:.0f} ms, RSS {run.rss_mb:.0f} MB, change → traffic p50 "
            f"{run.change_percentile(50):.0f} ms p99 {run.change_percentile(99):.0f} ms, "
            f"route change p99 {run.route_change_percentile(99):.0f} ms, steady p99 "
            f"{run.steady_p99_ms:.1f} ms, slowest during swaps {run.swaps_max_ms:.1f} ms")


def report(runs: list[Run], plan: Plan, load: tuple[float, float]) -> str:
    lines = [
        "# Scale run", "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"{plan.changes} endpoint changes and {plan.swaps} routing changes per run, load average "
        f"{load[0]:.1f} before and {load[1]:.1f} after (the machine's other work competes "
        "for the same CPUs).", "",
        "| source | Ingresses | workers | ready s | settled s | rebuild ms | RSS MB | PSS MB "
        "| change p50 ms | change p99 ms | change max ms | slowest probe ms | CPU s / change "
        "| route change p50 / p99 ms | steady p99 / max ms | slowest during swaps ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        if run.error:
            lines.append(f"| {run.source} | {run.ingresses} | {run.workers} | failed: "
                         f"{run.error.splitlines()[0]} ||||||||||||| ")
            continue
        lines.append(
            f"| {run.source} | {run.ingresses} | {run.workers} | {run.ready_s:.1f} "
            f"| {run.settled_s:.1f} | {run.rebuild_s * 1000:.0f} | {run.rss_mb:.0f} "
            f"| {run.pss_mb:.0f} | {run.change_percentile(50):.0f} "
            f"| {run.change_percentile(99):.0f} | {max(run.changes_ms, default=0):.0f} "
            f"| {run.slowest_probe_ms:.0f} | {run.cpu_per_change_s:.2f} "
            f"| {run.route_change_percentile(50):.0f} / {run.route_change_percentile(99):.0f} "
            f"| {run.steady_p99_ms:.1f} / {run.steady_max_ms:.1f} | {run.swaps_max_ms:.1f} |")
    return "\n".join(lines) + "\n"


def plot(path: Path, runs: list[Run]) -> None:
    from benchmarks.harness.plots import plot_scale

    plot_scale(path, [r for r in runs if not r.error])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--swaps", type=int, default=20,
                        help="routing changes under steady traffic (0: none)")
    parser.add_argument("--smoke", action="store_true",
                        help="20 Ingresses, 3 changes, 3 swaps after 1 s of steady traffic")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--before", type=Path,
                        help="an earlier run's results.json: compare.png puts the two side by side")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.changes, args.swaps = "20", 3, 3
    runs = list(runs_of(args.sources.split(","), [int(s) for s in args.sizes.split(",")],
                        [int(w) for w in args.workers.split(",")]))
    plan = Plan(args.changes, args.swaps, SMOKE_QUIET if args.smoke else QUIET,
                1.0 if args.smoke else BASELINE_S)
    load_before = os.getloadavg()[1]
    asyncio.run(run_all(runs, plan))
    out = args.out or ROOT / "benchmarks" / "results" / f"scale-{datetime.now(UTC):%Y-%m-%d}"
    out.mkdir(parents=True, exist_ok=True)
    text = report(runs, plan, (load_before, os.getloadavg()[1]))
    (out / "README.md").write_text(text)
    (out / "results.json").write_text(json.dumps(
        [{**dataclasses.asdict(r), "label": r.label} for r in runs], indent=1))
    plot(out / "scale.png", runs)
    if args.before is not None:
        from benchmarks.harness.plots import plot_scale_before_after

        plot_scale_before_after(out / "compare.png", load_runs(args.before),
                                [r for r in runs if not r.error])
    print(text)
    sys.exit(1 if any(r.error for r in runs) else 0)


if __name__ == "__main__":
    main()
