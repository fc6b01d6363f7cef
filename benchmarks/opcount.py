"""Python work per proxied request, counted rather than timed: `python -m benchmarks.opcount`.

Timing needs a quiet machine; counting does not. The data plane runs in
this process with a trace hook on its loop's thread that counts, for code
under `ingress/`, the Python function calls and bytecodes executed per
keep-alive request (the pod runs in a subprocess and the client in another
thread, both untraced). The same numbers come out on a busy machine, so a
hot-path change can be judged by them where `make bench` is too noisy.
C work (llhttp, the event loop, syscalls) is not counted: see `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import uvloop

from ingress.model import (
    Backend,
    Endpoint,
    EndpointSet,
    ObjectRef,
    PathType,
    Route,
    RoutingTable,
    VirtualHost,
)
from ingress.proxy.dataplane import Dataplane
from ingress.settings import Settings

_PACKAGE = str(Path(__file__).resolve().parent.parent / "ingress")
# A pod that answers every request on a connection with the same 3 bytes.
_POD = """
import asyncio, sys
RESPONSE = b"HTTP/1.1 200 OK\\r\\ncontent-length: 3\\r\\ncontent-type: text/plain\\r\\n\\r\\nok\\n"
class Pod(asyncio.Protocol):
    def connection_made(self, transport): self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\\r\\n\\r\\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\\r\\n\\r\\n", 1)
            self.transport.write(RESPONSE)
async def main():
    server = await asyncio.get_running_loop().create_server(Pod, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""
REQUEST = (
    b"GET /ok HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: opcount/1.0\r\n"
    b"Accept: */*\r\nAccept-Encoding: gzip\r\n\r\n"
)


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.opcodes = 0
        self.enabled = False

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event != "call" or not self.enabled:
            return None
        if not frame.f_code.co_filename.startswith(_PACKAGE):
            return None
        self.calls += 1
        frame.f_trace_opcodes = True
        return self._local

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "opcode":
            self.opcodes += 1
        return self._local


def _client(port: int, requests: int, done: threading.Event, counter: Counter,
            warmup: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for i in range(warmup + requests):
            if i == warmup:
                counter.enabled = True
            sock.sendall(REQUEST)
            received = b""
            while not received.endswith(b"ok\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the proxy closed the connection")
                received += chunk
            if not received.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer: {received[:80]!r}")
    counter.enabled = False
    done.set()


async def start_dataplane(pod_port: int) -> tuple[Dataplane, int]:
    """A data plane on a free port with one route, `bench.local` to the pod, and its port."""
    loop = asyncio.get_running_loop()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dataplane = Dataplane(Settings(bind="127.0.0.1", http_port=port, https_port=0, workers=1),
                          loop)
    backend = Backend("bench", "upstream", "80")
    route = Route("/", PathType.PREFIX, backend, ObjectRef("Ingress", "bench", "bench"),
                  "bench.local")
    dataplane.swap(RoutingTable(
        hosts={"bench.local": VirtualHost("bench.local", prefixes={"": route})},
        endpoints={backend.key: EndpointSet((Endpoint("127.0.0.1", pod_port),))}))
    await dataplane.start()
    return dataplane, port


def start_pod() -> tuple[subprocess.Popen[str], int]:
    """The pod in a process of its own, and its port."""
    pod = subprocess.Popen([sys.executable, "-c", _POD], stdout=subprocess.PIPE, text=True)
    assert pod.stdout is not None
    return pod, int(pod.stdout.readline())


async def _measure(pod_port: int, requests: int, warmup: int) -> Counter:
    dataplane, port = await start_dataplane(pod_port)
    counter = Counter()
    done = threading.Event()
    sys.settrace(counter.trace)
    client = threading.Thread(target=_client, args=(port, requests, done, counter, warmup))
    client.start()
    while not done.is_set():
        await asyncio.sleep(0.01)
    sys.settrace(None)
    client.join()
    await dataplane.drain(0.0)
    return counter


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.opcount",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    args = ap.parse_args(argv)
    pod, pod_port = start_pod()
    try:
        counter = uvloop.run(_measure(pod_port, args.requests, args.warmup))
    finally:
        pod.kill()
        pod.wait()
    print(f"per keep-alive request (code under ingress/): "
          f"{counter.calls / args.requests:.1f} Python calls, "
          f"{counter.opcodes / args.requests:.0f} bytecodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
