"""Each attack of the edge corpus, and what Portico and nginx answer to the same bytes.

    python -m benchmarks.edge_compare      # → benchmarks/results/edge/README.md

nginx runs with ingress-nginx's defaults for what the corpus exercises
(conf/nginx_edge.conf), Portico with its own; both route `edge.test` to
recording backends (harness/attacks.py), `/` public and `/admin` allow-listed
to 10.0.0.0/8, as the corpus's requests come from 127.0.0.1. For every
request the table shows each proxy's status, whether it closed the
connection, and whether anything reached its backend; for every hostile
upstream response, the status each proxy gave the client.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness.attacks import (
    ADMIN,
    CONTROLS,
    CORPUS,
    HOST,
    UPSTREAM_CORPUS,
    Answer,
    Attack,
    RecordingBackend,
    send,
)
from benchmarks.harness.net import LOOPBACK, free_ports
from benchmarks.harness.procs import Managed, wait_until
from benchmarks.harness.rig import CONF_DIR, render

BENCH_DIR = Path(__file__).parent
DEFAULT_OUT = BENCH_DIR / "results" / "edge" / "README.md"
SYNC = f"GET /sync HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()


@dataclass(frozen=True, slots=True)
class Outcome:
    answer: Answer
    complete: bool  # a complete request reached the backend
    partial: bool  # some bytes of one did

    def cell(self) -> str:
        status = str(self.answer.status) if self.answer.status else "no answer in 5 s"
        if self.answer.closed:
            status += ", closed"
        if self.complete:
            return status + " **(reached the backend)**"
        return status + (" *(bytes reached the backend)*" if self.partial else "")


class Proxy:
    """One proxy under comparison, with its own recording backend."""

    def __init__(self, name: str, port: int, backend: RecordingBackend) -> None:
        self.name = name
        self.port = port
        self.backend = backend

    def try_attack(self, wire: bytes) -> Outcome:
        self.backend.reset()
        answer = send(self.port, wire)
        send(self.port, SYNC)  # once the backend has this, all before it has arrived
        seen = self.backend.reset()
        complete = any(url != "/sync" for _, url, _ in seen.requests)
        return Outcome(answer, complete, seen.begun > 1 or seen.invalid > 0)


@contextmanager
def nginx(workdir: Path, backend: RecordingBackend) -> Iterator[Proxy]:
    (port,) = free_ports(1)
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx_edge.conf"
    conf.write_text(render((CONF_DIR / "nginx_edge.conf").read_text(), {
        "RUNDIR": str(workdir), "HTTP_PORT": str(port), "HOST": HOST,
        "UPSTREAM": f"{backend.address[0]}:{backend.address[1]}",
        "USER": "user root;" if os.geteuid() == 0 else "",
    }))
    proc = Managed("nginx", ["nginx", "-p", str(workdir), "-e",
                             str(workdir / "nginx_startup.log"), "-c", str(conf)],
                   "0-1", workdir)
    try:
        wait_until(lambda: _serves(port), 20, "nginx", [proc])
        yield Proxy("nginx", port, backend)
    finally:
        proc.stop()


@contextmanager
def portico(workdir: Path, backend: RecordingBackend) -> Iterator[Proxy]:
    port, admin = free_ports(2)
    manifests = workdir / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    (manifests / "edge.yaml").write_text(_manifests(backend))
    argv = [sys.executable, "-m", "ingress.cli", "run", "--manifests", str(manifests),
            "--workers", "1", "--bind", LOOPBACK, "--http-port", str(port), "--https-port", "0",
            "--admin-bind", LOOPBACK, "--admin-port", str(admin), "--shutdown-delay", "0",
            "--log-level", "warning"]
    proc = Managed("portico", argv, "0-1", workdir)
    try:
        wait_until(lambda: _serves(port), 30, "portico", [proc])
        yield Proxy("Portico", port, backend)
    finally:
        proc.stop()


def _serves(port: int) -> bool:
    try:
        return send(port, SYNC, deadline=0.5).status == 200
    except OSError:
        return False


def _manifests(backend: RecordingBackend) -> str:
    ip, port = backend.address
    return f"""
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {{name: portico}}
spec: {{controller: portico.dev/ingress-controller}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec: {{ports: [{{name: http, port: 80, targetPort: {port}}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: web-1, namespace: default, labels: {{kubernetes.io/service-name: web}}}}
addressType: IPv4
ports: [{{name: http, port: {port}}}]
endpoints: [{{addresses: [{ip}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: public, namespace: default}}
spec:
  ingressClassName: portico
  rules: [{{host: {HOST}, http: {{paths: [{{path: /, pathType: Prefix,
           backend: {{service: {{name: web, port: {{number: 80}}}}}}}}]}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: admin
  namespace: default
  annotations: {{nginx.ingress.kubernetes.io/whitelist-source-range: 10.0.0.0/8}}
spec:
  ingressClassName: portico
  rules: [{{host: {HOST}, http: {{paths: [{{path: {ADMIN}, pathType: Prefix,
           backend: {{service: {{name: web, port: {{number: 80}}}}}}}}]}}}}]
"""


def _nginx_version() -> str:
    done = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False)
    return done.stderr.strip().removeprefix("nginx version: ")


def _rows(proxies: list[Proxy], attacks: tuple[Attack, ...]) -> Iterator[list[str]]:
    for attack in attacks:
        outcomes = [proxy.try_attack(attack.wire) for proxy in proxies]
        yield [attack.name, *(outcome.cell() for outcome in outcomes)]


def _upstream_rows(proxies: list[Proxy]) -> Iterator[list[str]]:
    for name in UPSTREAM_CORPUS:
        wire = f"GET /respond/{name} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        cells = []
        for proxy in proxies:
            answer = send(proxy.port, wire)
            cells.append(str(answer.status) if answer.status else "no answer in 5 s")
        yield [name, *cells]


def _table(header: list[str], rows: Iterator[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


# Portico's side of the differences, which the tests pin (nginx's side is measured above).
WHY = [
    "## Where Portico answers differently, and why",
    "",
    "- **Transfer codings other than exactly `chunked`**: 400, as RFC 9112 §6.1 requires "
    "when chunked is not the final coding (nginx answers 501). Never a coding dropped "
    "silently.",
    "- **What llhttp refuses and nginx tolerates** (a bare LF, a space after the version, "
    "a header line without a colon, HTTP/1.2, control bytes in chunk extensions): 400. "
    "Each is a way for two parsers to disagree about where a message ends; Portico "
    "forwards nothing it could frame differently from the pod.",
    "- **Non-ASCII bytes and control characters** in the target or a header: 400; nginx "
    "forwards some of them for the pod to refuse.",
    "- **Hosts**: a Host with `@`, or a port that is not a number, is 400 (nginx routes it "
    "to the default server).",
    "- **HTTP/0.9**: 400. nginx answers in HTTP/0.9 (no status line) after sending the "
    "request upstream.",
    "- **Oversized heads and trailers**: 431 (Request Header Fields Too Large, RFC 6585); "
    "nginx says 400. Trailers and chunk extensions count against the same limit: nginx "
    "reads them without one.",
    "- **Upstream framing**: a response with Content-Length and Transfer-Encoding, or two "
    "Content-Lengths, is 502 and its connection discarded; nginx 1.22 passes it on as a "
    "200. An invalid status line or a coding other than chunked is 502 at once, where "
    "nginx gave no answer within 5 s.",
    "- **Bodies are streamed, not buffered**: a flaw found more than a read after a valid "
    "head (a 1 MiB chunk extension or trailer) reaches the pod as an incomplete request "
    "that is then cut off; nginx buffers the body first, so its pod sees nothing.",
    "",
]


def compare(out: Path, progress: Callable[[str], None]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="edge-compare-"))
    portico_backend = RecordingBackend(("127.0.0.5", free_ports(1, "127.0.0.5")[0]))
    nginx_backend = RecordingBackend(("127.0.0.6", free_ports(1, "127.0.0.6")[0]))
    try:
        with portico(workdir / "portico", portico_backend) as ours, \
                nginx(workdir / "nginx", nginx_backend) as theirs:
            proxies = [ours, theirs]
            names = [p.name for p in proxies]
            progress("requests")
            requests = _table(["request", *names], _rows(proxies, CORPUS))
            controls = _table(["well-formed request", *names], _rows(proxies, CONTROLS))
            progress("upstream responses")
            upstream = _table(["upstream response", *names], _upstream_rows(proxies))
    finally:
        portico_backend.close()
        nginx_backend.close()
        shutil.rmtree(workdir, ignore_errors=True)
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    text = [
        "# The edge corpus: Portico and nginx, the same bytes",
        "",
        f"Measured {when} by `python -m benchmarks.edge_compare` with nginx "
        f"{_nginx_version()} (ingress-nginx's defaults: conf/nginx_edge.conf). "
        f"`{HOST}` routes `/` to a public backend and `{ADMIN}` to one allow-listed to "
        "10.0.0.0/8; the requests come from 127.0.0.1, so 403 is the right answer to "
        f"every spelling of `{ADMIN}`. \"closed\": the proxy closed the connection after "
        "answering. \"reached the backend\": a complete request arrived at the recording "
        "backend behind that proxy; \"bytes reached\": part of one did (or bytes its "
        "HTTP parser refused).",
        "",
        "## Requests (tests/e2e/test_edge.py asserts Portico's column)",
        "",
        *requests,
        "",
        "## Well-formed requests both must forward",
        "",
        *controls,
        "",
        "## Hostile upstream responses (the status the client gets)",
        "",
        *upstream,
        "",
        *WHY,
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(text))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.edge_compare",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    started = time.monotonic()
    compare(args.out, lambda stage: print(f"... {stage}", flush=True))
    print(f"report: {args.out} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
