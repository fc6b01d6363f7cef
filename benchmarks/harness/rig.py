"""The benchmark rig: one upstream nginx and the proxies under test in front of it.

Pinning follows recipes/fast-proxy: the proxy under test alone on one CPU,
the load generator and the upstream on the other, so the proxy's CPU time is
its own and the upstream is never what the proxy waits for.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType

from benchmarks.harness.manifests import NAMESPACE, TLS_SECRET, bench_objects, write_manifests
from benchmarks.harness.net import LOOPBACK, answers, fetch, free_ports
from benchmarks.harness.procs import Managed, wait_until
from benchmarks.harness.tls import CertFiles, make_certificate
from ingress.compiled import PURE_ENV

CONF_DIR = Path(__file__).parent / "conf"
BENCH_HOST = "bench.local"
SMALL_PATH, SMALL_BODY = "/ok", b"ok\n"
LARGE_PATH, LARGE_SIZE = "/file16k", 16 * 1024
HEADERS_PATH = "/headers"
# gRPC: the upstream answers this unary method with a canned message (h2c).
GRPC_HOST, GRPC_PATH = "grpc.bench.local", "/bench.Echo/Unary"
GRPC_RESPONSE = b"\x00\x00\x00\x00\x02ok"
REFERENCE = "nginx"
CONFIGS = ("direct", "nginx", "haproxy", "portico-1", "portico-2")
# What observability costs: portico-1 without per-request metrics, and with an
# access log or OTLP tracing on top of the defaults (`make bench` runs them apart).
OBSERVABILITY_CONFIGS = ("portico-1-bare", "portico-1-logged", "portico-1-traced")
# portico-1 with its compiled modules left aside (ingress/compiled.py): what mypyc is worth.
PURE_CONFIG = "portico-1-pure"
_VARIANTS = {
    "pure": [],
    "bare": ["--no-enable-metrics"],
    "logged": ["--access-log"],
    "traced": ["--otlp-endpoint", "http://@UPSTREAM@", "--trace-sample-ratio", "1"],
}
_START_TIMEOUT = 30.0
# "nginx-4", "portico-4": the same configuration with that many worker processes
# (benchmarks.workers_scaling); "nginx" and "portico-1" are one worker.
_SCALED = re.compile(r"(nginx|portico)-([1-9][0-9]*)")


def known_config(name: str) -> bool:
    return (name in (*CONFIGS, *OBSERVABILITY_CONFIGS, PURE_CONFIG)
            or _SCALED.fullmatch(name) is not None)


def nginx_workers(name: str) -> int:
    """Worker processes of an nginx configuration: 1, or N for "nginx-N"."""
    return int(name.split("-")[1]) if name.startswith("nginx-") else 1


def render(template: str, values: dict[str, str]) -> str:
    """Fill @NAME@ placeholders; a placeholder left unfilled is an error, not a silent bug."""
    text = template
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = sorted(set(re.findall(r"@([A-Z_]+)@", text)))
    if left:
        raise ValueError(f"template placeholders without a value: {', '.join(left)}")
    return text


def large_body() -> bytes:
    # A fixed, non-repeating-looking pattern: equal bytes could hide a truncation.
    return bytes(i * 7 % 251 for i in range(LARGE_SIZE))


@dataclass(frozen=True, slots=True)
class Target:
    """One configuration under test, as the load generators see it."""

    name: str
    http_url: str
    https_url: str
    cpu_root: int  # pid whose process tree's CPU is charged to this configuration
    is_proxy: bool  # False for the upstream itself ("direct")
    grpc_url: str = ""  # h2c, where gRPC calls go (nginx and Portico)

    def url(self, tls: bool) -> str:
        return self.https_url if tls else self.http_url


def _nginx_argv(conf: Path, rundir: Path) -> list[str]:
    return ["nginx", "-p", str(rundir), "-e", str(rundir / "nginx_startup.log"), "-c", str(conf)]


def portico_argv(manifests: Path, workers: int, http_port: int, https_port: int,
                 admin_port: int) -> list[str]:
    return [
        sys.executable, "-m", "ingress.cli", "run",
        "--manifests", str(manifests),
        "--workers", str(workers),
        "--bind", LOOPBACK, "--admin-bind", LOOPBACK,
        "--http-port", str(http_port), "--https-port", str(https_port),
        "--admin-port", str(admin_port),
        "--default-ssl-certificate", f"{NAMESPACE}/{TLS_SECRET}",
        # Nothing is in flight when the rig stops: skip the drain delays.
        "--shutdown-delay", "0", "--shutdown-grace", "2",
        "--log-level", "warning",
        "--no-access-log",
    ]


class Rig:
    """Starts the upstream and the requested configurations; stops them all on exit."""

    def __init__(self, workdir: Path, configs: tuple[str, ...], proxy_cpus: str = "0",
                 rig_cpus: str = "1") -> None:
        unknown = [c for c in configs if not known_config(c)]
        if unknown:
            raise ValueError(f"unknown configuration(s) {unknown}; choose from "
                             f"{(*CONFIGS, *OBSERVABILITY_CONFIGS, PURE_CONFIG)}, nginx-N, "
                             "portico-N")
        self.workdir = workdir.resolve()
        self.configs = configs
        self.proxy_cpus = proxy_cpus
        self.rig_cpus = rig_cpus
        self.targets: dict[str, Target] = {}
        self.failed: dict[str, str] = {}  # configuration -> why it could not start
        self._procs: list[Managed] = []

    def __enter__(self) -> Rig:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        # Signal all first so their shutdowns overlap, then wait for each.
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            proc.stop()
        self._procs.clear()

    def _spawn(self, name: str, argv: list[str], cpus: str,
               env: dict[str, str] | None = None) -> Managed:
        proc = Managed(name, argv, cpus, self.workdir / "logs", env)
        self._procs.append(proc)
        return proc

    def _start(self) -> None:
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        for sub in ("logs", "tmp", "www", "manifests"):
            (self.workdir / sub).mkdir(parents=True)
        (self.workdir / "www" / LARGE_PATH.lstrip("/")).write_bytes(large_body())
        (self.workdir / "www" / GRPC_PATH.lstrip("/")).parent.mkdir(parents=True)
        (self.workdir / "www" / GRPC_PATH.lstrip("/")).write_bytes(GRPC_RESPONSE)
        cert = make_certificate(self.workdir, BENCH_HOST)
        common = {
            "RUNDIR": str(self.workdir),
            "CERT": str(cert.cert),
            "KEY": str(cert.key),
            "PEM": str(cert.combined),
            # nginx's workers drop to "nobody" unless told otherwise when started as root.
            "USER": "user root;" if os.geteuid() == 0 else "",
        }
        up_http, up_https, up_grpc = free_ports(3)
        upstream = self._spawn("upstream", self._conf_argv(
            "upstream_nginx.conf", {**common, "HTTP_PORT": str(up_http),
                                    "HTTPS_PORT": str(up_https),
                                    "GRPC_PORT": str(up_grpc)}), self.rig_cpus)
        wait_until(lambda: answers(f"http://{LOOPBACK}:{up_http}", SMALL_PATH, BENCH_HOST),
                   _START_TIMEOUT, "upstream nginx", [upstream])
        starting: dict[str, tuple[Managed, Target]] = {}
        for name in self.configs:
            if name == "direct":
                self.targets[name] = Target(name, f"http://{LOOPBACK}:{up_http}",
                                            f"https://{LOOPBACK}:{up_https}", upstream.pid,
                                            is_proxy=False)
                continue
            starting[name] = self._start_proxy(name, common, up_http, up_grpc, cert)
        for name, (proc, target) in starting.items():
            try:
                wait_until(partial(_serves_both, target), _START_TIMEOUT, name, [proc])
                check_target(target)
            except (RuntimeError, TimeoutError, ValueError) as exc:
                self.failed[name] = f"{exc}\n--- log:\n{proc.log_tail()}"
                continue
            self.targets[name] = target

    def _conf_argv(self, template: str, values: dict[str, str]) -> list[str]:
        conf = self.workdir / template
        conf.write_text(render((CONF_DIR / template).read_text(), values))
        if template.endswith(".cfg"):
            return ["haproxy", "-db", "-f", str(conf)]
        return _nginx_argv(conf, self.workdir)

    def _start_proxy(self, name: str, common: dict[str, str], up_port: int, up_grpc: int,
                     cert: CertFiles) -> tuple[Managed, Target]:
        http_port, https_port, admin_port, grpc_port = free_ports(4)
        values = {**common, "HTTP_PORT": str(http_port), "HTTPS_PORT": str(https_port),
                  "UPSTREAM_PORT": str(up_port), "GRPC_PORT": str(grpc_port),
                  "UPSTREAM_GRPC_PORT": str(up_grpc)}
        if name.startswith("nginx"):
            argv = self._conf_argv("nginx_proxy.conf",
                                   {**values, "WORKERS": str(nginx_workers(name))})
        elif name == "haproxy":
            argv = self._conf_argv("haproxy.cfg", values)
        else:
            _, workers, *variant = name.split("-")
            manifests = write_manifests(
                self.workdir / "manifests" / name,
                bench_objects(BENCH_HOST, LOOPBACK, up_port, cert, GRPC_HOST, up_grpc),
            )
            argv = portico_argv(manifests.parent, int(workers), http_port, https_port, admin_port)
            argv += [arg.replace("@UPSTREAM@", f"{LOOPBACK}:{up_port}")
                     for arg in _VARIANTS[variant[0]]] if variant else []
            grpc_port = http_port  # Portico takes h2c and HTTP/1.1 on one port
        env = {**os.environ, PURE_ENV: "1"} if name == PURE_CONFIG else None
        proc = self._spawn(name, argv, self.proxy_cpus, env)
        target = Target(name, f"http://{LOOPBACK}:{http_port}",
                        f"https://{LOOPBACK}:{https_port}", proc.pid, is_proxy=True,
                        grpc_url=f"http://{LOOPBACK}:{grpc_port}" if name != "haproxy" else "")
        return proc, target


def _serves_both(target: Target) -> bool:
    return (answers(target.http_url, SMALL_PATH, BENCH_HOST)
            and answers(target.https_url, SMALL_PATH, BENCH_HOST))


def check_target(target: Target) -> None:
    """Refuse to measure a configuration that serves the wrong bytes or skips work.

    Each proxy must return both bodies intact and add the same forwarding
    headers, so that "requests per CPU-second" compares the same work.
    """
    expected_large = large_body()
    for tls in (False, True):
        base = target.url(tls)
        small = fetch(base, SMALL_PATH, BENCH_HOST)
        if small.status != 200 or small.body != SMALL_BODY:
            raise ValueError(f"{target.name} {base}{SMALL_PATH}: got {small.status} "
                             f"{small.body[:80]!r}, want 200 {SMALL_BODY!r}")
        large = fetch(base, LARGE_PATH, BENCH_HOST)
        if large.status != 200 or large.body != expected_large:
            raise ValueError(f"{target.name} {base}{LARGE_PATH}: got {large.status} with "
                             f"{len(large.body)} bytes, want 200 with the {LARGE_SIZE}-byte file")
        if not target.is_proxy:
            continue
        port = base.rsplit(":", 1)[1]
        want = (f"for={LOOPBACK} proto={'https' if tls else 'http'} host={BENCH_HOST} "
                f"port={port} real-ip={LOOPBACK}")
        echoed = fetch(base, HEADERS_PATH, BENCH_HOST).body.decode(errors="replace").strip()
        if echoed != want:
            raise ValueError(f"{target.name} {base}: forwarded headers differ from the other "
                             f"proxies: upstream saw {echoed!r}, want {want!r}")
