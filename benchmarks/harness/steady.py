"""Steady traffic that records how long each request took: what a stall does to requests.

`connections` keep-alive connections (spread over the workers by the
kernel's SO_REUSEPORT hashing) each send a small GET, read the whole
response and, after `pause` seconds, send the next. Every request's start
(`time.perf_counter`) and latency are kept, so a benchmark can compare the
latencies of two windows: without table swaps and during them. The client
is raw asyncio streams with a minimal HTTP/1.1 reader, to add as little of
its own delay as it can on a machine it shares with the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array

_HEAD_END = b"\r\n\r\n"


class Steady:
    def __init__(self, port: int, host: str, connections: int = 8,
                 pause: float = 0.005) -> None:
        self._port = port
        self._request = f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: steady\r\n\r\n".encode()
        self._connections = connections
        self._pause = pause
        self._tasks: list[asyncio.Task[None]] = []
        self.started = array("d")
        self.latency = array("d")
        self.errors = 0

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(self._connections)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def between(self, start: float, end: float) -> list[float]:
        """Latencies (s) of the requests that started in [start, end)."""
        return [latency for started, latency in zip(self.started, self.latency, strict=True)
                if start <= started < end]

    async def _client(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self._port)
            except OSError:
                self.errors += 1
                await asyncio.sleep(0.1)
                continue
            try:
                while True:
                    begun = time.perf_counter()
                    writer.write(self._request)
                    head = await reader.readuntil(_HEAD_END)
                    await reader.readexactly(_content_length(head))
                    self.started.append(begun)
                    self.latency.append(time.perf_counter() - begun)
                    await asyncio.sleep(self._pause)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                self.errors += 1
            finally:
                writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("no content-length")
