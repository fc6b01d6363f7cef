"""Steady traffic that records how long each request took: what a stall does to requests.

`connections` keep-alive connections (spread over the workers by the
kernel's SO_REUSEPORT hashing) each send a small GET, read the whole
response and, after `pause` seconds, send the next. Every request's start
(`time.monotonic`, one clock for every process on the machine) and latency
are kept, so a benchmark can compare the latencies of two windows: without
table swaps and during them.

The client runs in a process of its own, on raw asyncio streams with a
minimal HTTP/1.1 reader: a benchmark's other work (waiting for a change to
show, with requests of its own) must not delay it and pass for a stall.

    python -m benchmarks.harness.steady PORT HOST OUT   # until SIGTERM; OUT: the samples
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from array import array
from pathlib import Path

_HEAD_END = b"\r\n\r\n"


class Steady:
    """The client process, seen from the benchmark."""

    def __init__(self, port: int, host: str, out: Path) -> None:
        self._out = out
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.harness.steady", str(port), host, str(out)],
            stdin=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2])
        self.started = array("d")
        self.latency = array("d")

    def stop(self) -> None:
        """End the traffic and read what it measured."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        if self._proc.wait(30) != 0:
            raise RuntimeError(f"the steady client exited with {self._proc.returncode}")
        samples = array("d", self._out.read_bytes())
        self.started, self.latency = samples[0::2], samples[1::2]

    def between(self, start: float, end: float) -> list[float]:
        """Latencies (s) of the requests that started in [start, end) (`time.monotonic`)."""
        return [latency for started, latency in zip(self.started, self.latency, strict=True)
                if start <= started < end]


class _Client:
    def __init__(self, port: int, host: str, connections: int, pause: float) -> None:
        self._port = port
        self._request = f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: steady\r\n\r\n".encode()
        self._connections = connections
        self._pause = pause
        self.samples = array("d")  # start, latency, start, latency, …

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._one()) for _ in range(self._connections)]
        await stop.wait()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _one(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self._port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            try:
                while True:
                    begun = time.monotonic()
                    writer.write(self._request)
                    head = await reader.readuntil(_HEAD_END)
                    await reader.readexactly(_content_length(head))
                    self.samples.extend((begun, time.monotonic() - begun))
                    await asyncio.sleep(self._pause)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                pass  # a new connection, then on
            finally:
                writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("no content-length")


async def _main(port: int, host: str, out: Path, connections: int, pause: float) -> None:
    client = _Client(port, host, connections, pause)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await client.run(stop)
    out.write_bytes(client.samples.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("host")
    parser.add_argument("out", type=Path)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--pause", type=float, default=0.005)
    args = parser.parse_args()
    asyncio.run(_main(args.port, args.host, args.out, args.connections, args.pause))


if __name__ == "__main__":
    main()
