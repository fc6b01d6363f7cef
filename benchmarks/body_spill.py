"""Does buffering request bodies to disk stall the event loop? `python -m benchmarks.body_spill`.

proxy-request-buffering with a small client-body-buffer-size sends every
body to a temporary file. The data plane runs here on uvloop with a ticker
that measures how late each 1 ms sleep wakes (the loop's stall); clients
in threads upload bodies concurrently to a pod in another thread. The
same uploads are measured streamed (no buffering) for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import socket
import statistics
import threading
import time
from typing import Any

import uvloop

from ingress.demo import start_demo_backends
from ingress.model import (
    Backend,
    Buffering,
    Endpoint,
    EndpointSet,
    ObjectRef,
    PathType,
    Route,
    RoutingTable,
    UpstreamPolicy,
    VirtualHost,
)
from ingress.proxy.dataplane import Dataplane
from ingress.settings import Settings


def _pod(ready: threading.Event, where: list[int]) -> None:
    async def main() -> None:
        pods = await start_demo_backends([("127.0.0.1", 0)])
        where.append(pods.addresses[0][1])
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def _upload(port: int, body: bytes, results: list[float]) -> None:
    head = (b"POST /upload HTTP/1.1\r\nHost: bench.local\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(body))
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    answer = json.loads(received.split(b"\r\n\r\n", 1)[1])
    assert answer["body_sha256"] == hashlib.sha256(body).hexdigest(), "body changed"
    results.append(time.perf_counter() - started)


async def _measure(pod_port: int, buffered: bool, clients: int, size: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dataplane = Dataplane(Settings(bind="127.0.0.1", http_port=port, https_port=0, workers=1,
                                   access_log=False), loop)
    policy = UpstreamPolicy(buffering=Buffering(request=True) if buffered else None)
    backend = Backend("bench", "pod", "80")
    route = Route("/", PathType.PREFIX, backend, ObjectRef("Ingress", "bench", "bench"),
                  "bench.local", upstream=policy)
    dataplane.swap(RoutingTable(
        hosts={"bench.local": VirtualHost("bench.local", prefixes={"": route})},
        endpoints={backend.endpoints_key: EndpointSet((Endpoint("127.0.0.1", pod_port),))}))
    await dataplane.start()
    lags: list[float] = []
    done = threading.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.001)
            lags.append(loop.time() - before - 0.001)

    tick = loop.create_task(ticker())
    body = bytes(range(256)) * (size // 256)
    times: list[float] = []
    started = time.perf_counter()
    threads = [threading.Thread(target=_upload, args=(port, body, times)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    done.set()
    await tick
    await dataplane.drain(0.0)
    lags.sort()
    return {
        "mode": "buffered to disk" if buffered else "streamed",
        "uploads": len(times),
        "MB/s": round(clients * size / elapsed / 1e6, 1),
        "loop lag p99 ms": round(lags[int(len(lags) * 0.99)] * 1000, 2),
        "loop lag max ms": round(lags[-1] * 1000, 2),
        "loop lag median ms": round(statistics.median(lags) * 1000, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.body_spill",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--size-mb", type=int, default=32)
    args = ap.parse_args(argv)
    ready, where = threading.Event(), []
    threading.Thread(target=_pod, args=(ready, where), daemon=True).start()
    ready.wait(10)
    for buffered in (False, True):
        result = uvloop.run(_measure(where[0], buffered, args.clients, args.size_mb << 20))
        print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
