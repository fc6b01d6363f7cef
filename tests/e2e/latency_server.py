"""An HTTP server whose latencies and failures are known in advance, for the load tester's tests.

Run as its own process (`python latency_server.py`), so it shares no GIL
with the client measuring it; it prints its port, then serves until killed.

- `/fast`: 200 at once.
- `/slow-every/{n}/{ms}`: every n-th request (per path) answers after `ms`.
- `/stall-once/{after_ms}/{ms}`: the first request at least `after_ms` after
  the first one blocks the whole server for `ms` (a GC pause, a stuck disk).
- `/capacity/{rps}`: requests served one at a time, `1/rps` s each, so the
  server saturates at exactly `rps`.
- `/mix`: by request count modulo 10: 503, 404, connection reset, no answer
  at all (a timeout), else 200.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time

from aiohttp import web

_counters: dict[str, itertools.count[int]] = {}
_first_seen: dict[str, float] = {}
_stalled: set[str] = set()
_next_free = [0.0]


def _nth(request: web.Request) -> int:
    return next(_counters.setdefault(request.path, itertools.count(1)))


async def fast(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def slow_every(request: web.Request) -> web.Response:
    n, ms = int(request.match_info["n"]), float(request.match_info["ms"])
    if _nth(request) % n == 0:
        await asyncio.sleep(ms / 1e3)
    return web.Response(text="ok\n")


async def stall_once(request: web.Request) -> web.Response:
    after, ms = float(request.match_info["after"]) / 1e3, float(request.match_info["ms"]) / 1e3
    now = time.monotonic()
    first = _first_seen.setdefault(request.path, now)
    if now - first >= after and request.path not in _stalled:
        _stalled.add(request.path)
        time.sleep(ms)  # blocks the loop: every request in flight or arriving waits
    return web.Response(text="ok\n")


async def capacity(request: web.Request) -> web.Response:
    service = 1.0 / float(request.match_info["rps"])
    now = time.monotonic()
    done = max(now, _next_free[0]) + service
    _next_free[0] = done
    await asyncio.sleep(done - now)
    return web.Response(text="ok\n")


async def mix(request: web.Request) -> web.StreamResponse:
    outcome = _nth(request) % 10
    if outcome == 1:
        return web.Response(status=503)
    if outcome == 2:
        return web.Response(status=404)
    if outcome == 3:
        assert request.transport is not None
        request.transport.abort()  # reset, no answer
        raise asyncio.CancelledError
    if outcome == 4:
        await asyncio.sleep(3600)
    return web.Response(text="ok\n")


async def serve() -> None:
    app = web.Application()
    app.router.add_get("/fast", fast)
    app.router.add_get("/slow-every/{n}/{ms}", slow_every)
    app.router.add_get("/stall-once/{after}/{ms}", stall_once)
    app.router.add_get("/capacity/{rps}", capacity)
    app.router.add_get("/mix", mix)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)
