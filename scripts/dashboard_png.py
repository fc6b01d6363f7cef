"""Render the overview dashboard as a PNG from Portico's own recorded metrics.

    .venv/bin/python scripts/dashboard_png.py [--seconds 90] [--out docs/overview-dashboard.png]

Starts two demo pods and `portico run --manifests` on loopback, sends a
varying load (with a burst of 5xx answers in the middle), scrapes /metrics
every two seconds and draws the panels of charts/portico/dashboards/
portico-overview.json with matplotlib, computing each panel's query
(rates, ratios, histogram quantiles) from the scraped series. No Grafana
is needed; the numbers are the ones Prometheus would compute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingress.demo import start_demo_backends  # noqa: E402

Sample = tuple[str, dict[str, str], float]
PODS = ("127.0.0.2", "127.0.0.3")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def objects(port: int) -> list[dict[str, object]]:
    def meta(name: str, **extra: object) -> dict[str, object]:
        return {"name": name, "namespace": "demo", **extra}

    def ingress(name: str, host: str, path: str, service: str) -> dict[str, object]:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta(name),
                "spec": {"ingressClassName": "portico", "rules": [{"host": host, "http": {
                    "paths": [{"path": path, "pathType": "Prefix", "backend": {"service": {
                        "name": service, "port": {"number": 80}}}}]}}]}}

    out: list[dict[str, object]] = [{"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                                     "metadata": {"name": "portico"},
                                     "spec": {"controller": "portico.dev/ingress-controller"}}]
    for service in ("web", "cart"):
        out += [
            {"apiVersion": "v1", "kind": "Service", "metadata": meta(service),
             "spec": {"ports": [{"name": "http", "port": 80, "targetPort": port}]}},
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
             "metadata": meta(f"{service}-1", labels={"kubernetes.io/service-name": service}),
             "ports": [{"name": "http", "port": port}],
             "endpoints": [{"addresses": [ip]} for ip in PODS]},
        ]
    return [*out, ingress("web", "shop.demo", "/", "web"),
            ingress("cart", "shop.demo", "/cart", "cart")]


def scrape(admin: str) -> list[Sample]:
    with urllib.request.urlopen(admin + "/metrics", timeout=5) as response:
        text = response.read().decode()
    found = []
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        series, _, value = line.rpartition(" ")
        name, _, labels = series.partition("{")
        found.append((name, dict(re.findall(r'(\w+)="([^"]*)"', labels)), float(value)))
    return found


async def load(url: str, seconds: float, stop_errors: tuple[float, float]) -> None:
    """A wave of 40-160 rps over shop.demo; 5xx answers between the `stop_errors` bounds."""
    start = time.monotonic()
    async with aiohttp.ClientSession() as session:
        async def one(path: str) -> None:
            try:
                async with session.get(url + path, headers={"Host": "shop.demo"}) as response:
                    await response.read()
            except aiohttp.ClientError:
                pass

        tick = 0
        pending: set[asyncio.Future[None]] = set()
        while (elapsed := time.monotonic() - start) < seconds:
            rate = 100 + 60 * math.sin(elapsed / seconds * 2 * math.pi)
            tick += 1
            paths = ["/", "/cart/items", "/delay/0.02", "/cart/checkout", "/delay/0.08"]
            if stop_errors[0] < elapsed < stop_errors[1] and tick % 4 == 0:
                paths.append("/status/503")
            for i in range(max(1, int(rate / 10))):
                request = asyncio.ensure_future(one(paths[(tick + i) % len(paths)]))
                pending.add(request)
                request.add_done_callback(pending.discard)
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)


def total(samples: list[Sample], name: str,
          keep: Callable[[dict[str, str]], bool] = lambda _: True) -> float:
    return sum(v for n, labels, v in samples if n == name and keep(labels))


def quantile(q: float, before: list[Sample], after: list[Sample], family: str) -> float:
    """histogram_quantile over the buckets' increase between two scrapes."""
    def buckets(samples: list[Sample]) -> dict[float, float]:
        out: dict[float, float] = {}
        for n, labels, v in samples:
            if n == family + "_bucket":
                le = math.inf if labels["le"] == "+Inf" else float(labels["le"])
                out[le] = out.get(le, 0.0) + v
        return out

    b0, b1 = buckets(before), buckets(after)
    bounds = sorted(b1)
    counts = [b1[b] - b0.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return math.nan
    rank = q * counts[-1]
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = bound, count
    return lower


def render(scrapes: list[tuple[float, list[Sample]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    board = json.loads((ROOT / "charts/portico/dashboards/portico-overview.json").read_text())
    titles = {p["title"] for p in board["panels"]}
    t0 = scrapes[0][0]
    window = 5  # scrapes (10 s) per rate, like $__rate_interval
    points = list(range(window, len(scrapes)))
    xs = [scrapes[i][0] - t0 for i in points]
    req = "nginx_ingress_controller_requests"

    def rate(i: int, name: str, keep: Callable[[dict[str, str]], bool] = lambda _: True) -> float:
        (ta, a), (tb, b) = scrapes[i - window], scrapes[i]
        return (total(b, name, keep) - total(a, name, keep)) / (tb - ta)

    def series(fn: Callable[[int], float]) -> list[float]:
        return [fn(i) for i in points]

    last = len(scrapes) - 1
    fig = plt.figure(figsize=(16, 11), facecolor="#111217")
    fig.suptitle("Portico / Overview  (rendered from Portico's own /metrics)", color="white",
                 fontsize=15, x=0.02, ha="left")
    grid = fig.add_gridspec(4, 12, hspace=0.55, wspace=0.9, top=0.92, bottom=0.05, left=0.04,
                            right=0.98)

    def stat(col: int, width: int, title: str, text: str) -> None:
        assert title in titles, title
        ax = fig.add_subplot(grid[0, col:col + width])
        ax.set_facecolor("#181b1f")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, color="#ccccdc", fontsize=10, loc="left")
        ax.text(0.5, 0.45, text, color="#73bf69", fontsize=24, ha="center", va="center",
                transform=ax.transAxes)

    def plot(row: int, col: int, width: int, title: str, lines: dict[str, list[float]],
             unit: str) -> None:
        assert title in titles, title
        ax = fig.add_subplot(grid[row, col:col + width])
        ax.set_facecolor("#181b1f")
        for label, ys in lines.items():
            ax.plot(xs, ys, label=label, linewidth=1.5)
        ax.set_title(title, color="#ccccdc", fontsize=10, loc="left")
        ax.tick_params(colors="#8e8e8e", labelsize=8)
        ax.set_ylabel(unit, color="#8e8e8e", fontsize=8)
        ax.set_xlabel("s", color="#8e8e8e", fontsize=8)
        ax.grid(color="#2c3235", linewidth=0.5)
        ax.legend(fontsize=7, facecolor="#181b1f", labelcolor="#ccccdc", loc="upper left")

    everything = rate(last, req)
    good = rate(last, req, lambda lb: not lb["status"].startswith(("4", "5")))
    stat(0, 3, "Request volume", f"{everything:.0f} req/s")
    stat(3, 3, "Success rate (not 4xx/5xx)", f"{100 * good / everything:.1f}%")
    stat(6, 2, "Config reloads (1 h)",
         f"{total(scrapes[last][1], 'nginx_ingress_controller_success'):.0f}")
    failed = sum(1 for n, _, v in scrapes[last][1]
                 if n == "nginx_ingress_controller_config_last_reload_successful" and v == 0)
    stat(8, 2, "Last reload failed", str(failed))
    soon = time.time() + 14 * 86400
    expiring = sum(1 for n, _, v in scrapes[last][1]
                   if n == "nginx_ingress_controller_ssl_expire_time_seconds" and v < soon)
    stat(10, 2, "Certificates expiring in 14 days", str(expiring))
    ingresses = sorted({lb["ingress"] for n, lb, _ in scrapes[last][1] if n == req})
    plot(1, 0, 6, "Requests by Ingress",
         {i or "(no route)": series(lambda p, i=i: rate(p, req, lambda lb: lb["ingress"] == i))
          for i in ingresses}, "req/s")
    statuses = sorted({lb["status"] for n, lb, _ in scrapes[last][1] if n == req})
    plot(1, 6, 6, "Responses by status",
         {s: series(lambda p, s=s: rate(p, req, lambda lb: lb["status"] == s))
          for s in statuses}, "req/s")
    for col, title, family in (
            (0, "Request latency", "nginx_ingress_controller_request_duration_seconds"),
            (6, "Upstream latency", "nginx_ingress_controller_response_duration_seconds")):
        plot(2, col, 6, title, {
            f"p{int(q * 100)}": series(lambda p, q=q, f=family: 1000 * quantile(
                q, scrapes[p - window][1], scrapes[p][1], f))
            for q in (0.5, 0.95, 0.99)}, "ms")
    plot(3, 0, 4, "Client connections", {
        state: series(lambda p, s=state: total(
            scrapes[p][1], "nginx_ingress_controller_nginx_process_connections",
            lambda lb: lb.get("state") == s))
        for state in ("active", "reading", "writing", "waiting")}, "connections")
    plot(3, 4, 4, "Proxy CPU and memory", {
        "CPU (cores)": series(lambda p: rate(
            p, "nginx_ingress_controller_nginx_process_cpu_seconds_total")),
        "RSS (100 MiB)": series(lambda p: total(
            scrapes[p][1], "nginx_ingress_controller_nginx_process_resident_memory_bytes")
            / 2**20 / 100)}, "")
    plot(3, 8, 4, "5xx ratio", {"5xx": series(lambda p: 100 * rate(
        p, req, lambda lb: lb["status"].startswith("5")) / max(rate(p, req), 1e-9))}, "%")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, facecolor=fig.get_facecolor())


async def record(seconds: float) -> list[tuple[float, list[Sample]]]:
    pod_port = free_port(PODS[0])
    pods = await start_demo_backends([(ip, pod_port) for ip in PODS])
    http, admin = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "demo.yaml").write_text(yaml.safe_dump_all(objects(pod_port)))
        portico = subprocess.Popen([
            sys.executable, "-m", "ingress.cli", "run", "--manifests", tmp, "--bind", "127.0.0.1",
            "--admin-bind", "127.0.0.1", "--http-port", str(http), "--https-port", "0",
            "--admin-port", str(admin), "--workers", "1", "--log-level", "warning",
            "--shutdown-delay", "0"], cwd=ROOT)
        try:
            base = f"http://127.0.0.1:{admin}"
            for _ in range(200):
                try:
                    if urllib.request.urlopen(base + "/readyz", timeout=1).status == 200:
                        break
                except OSError:
                    await asyncio.sleep(0.1)
            scrapes: list[tuple[float, list[Sample]]] = []
            traffic = asyncio.ensure_future(
                load(f"http://127.0.0.1:{http}", seconds, (seconds * 0.45, seconds * 0.6)))
            while not traffic.done():
                scrapes.append((time.monotonic(), await asyncio.to_thread(scrape, base)))
                await asyncio.sleep(2.0)
            return scrapes
        finally:
            portico.terminate()
            portico.wait(timeout=30)
            await pods.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "overview-dashboard.png")
    args = parser.parse_args()
    render(asyncio.run(record(args.seconds)), args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
