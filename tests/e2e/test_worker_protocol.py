"""One worker process driven frame by frame, as the supervisor drives it: parts, changes, resync."""

from __future__ import annotations

import asyncio
import socket
import sys
from dataclasses import replace

import aiohttp

from e2e.harness import free_port
from ingress.model import (
    EMPTY_TABLE,
    Backend,
    Endpoint,
    EndpointSet,
    ObjectRef,
    PathType,
    Route,
    RoutingTable,
    VirtualHost,
)
from ingress.model.changes import TableChange, endpoints_change, table_change
from ingress.proxy.workers import change_frames, frame, read_frame
from ingress.settings import Settings


def table(hosts: int, generation: int) -> RoutingTable:
    """`hosts` hosts h0.test…, each to its own backend with one pod nobody listens on."""
    vhosts, endpoints = {}, {}
    for n in range(hosts):
        backend = Backend("default", f"s{n}", "80")
        route = Route("/", PathType.PREFIX, backend, ObjectRef("Ingress", "default", f"i{n}"),
                      f"h{n}.test")
        vhosts[f"h{n}.test"] = VirtualHost(f"h{n}.test", prefixes={"": route})
        endpoints[backend.key] = EndpointSet((Endpoint("127.0.0.1", 9),))
    return RoutingTable(hosts=vhosts, endpoints=endpoints, generation=generation)


async def status(url: str, host: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(
            url, headers={"Host": host}) as response:
        return response.status


async def test_a_worker_applies_parts_and_asks_again_for_a_change_that_does_not_fit() -> None:
    port = free_port()
    ours, theirs = socket.socketpair()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ingress.proxy.worker", str(theirs.fileno()),
        pass_fds=(theirs.fileno(),))
    theirs.close()
    reader, writer = await asyncio.open_connection(sock=ours)

    async def next_frame(kind: str) -> object:
        while True:
            got, payload = await asyncio.wait_for(read_frame(reader), 20)
            if got == kind:
                return payload
            assert got in ("stats", "listening", "ack"), got

    try:
        settings = Settings(bind="127.0.0.1", http_port=port, https_port=0, workers=2)
        first = table(3, generation=1)
        writer.write(frame("init", (settings, None, first)))
        assert await next_frame("ack") == 1
        await next_frame("listening")
        url = f"http://127.0.0.1:{port}/"
        assert await status(url, "h2.test") == 502  # routed; its pod refuses
        assert await status(url, "h40.test") == 404

        # A table of 60 hosts more, in parts of 10 routes: served once the last part is in.
        grown = table(63, generation=2)
        data = change_frames(table_change(first, grown), budget=10)
        assert data.count(b"part") >= 6
        writer.write(data)
        assert await next_frame("ack") == 2
        assert await status(url, "h40.test") == 502

        # Endpoints only: the same generation, acknowledged as such.
        moved = endpoints_change(grown, {"default/s40:80": EndpointSet()})
        writer.write(change_frames(moved))
        assert await next_frame("ack") == 2
        assert await status(url, "h40.test") == 503  # no endpoint left

        # A change made from a generation the worker does not have: it keeps serving and
        # asks for the whole table, dropping changes until that comes.
        writer.write(change_frames(TableChange(7, 8)))
        assert await next_frame("resync") == 2
        writer.write(change_frames(table_change(EMPTY_TABLE, first)))  # also made elsewhere
        assert await status(url, "h40.test") == 503
        writer.write(frame("table", replace(first, generation=9)))
        assert await next_frame("ack") == 9
        assert await status(url, "h40.test") == 404

        writer.write(frame("drain", 0.0))
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        writer.close()
