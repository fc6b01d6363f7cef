"""The admin listener: liveness, readiness and Prometheus metrics.

`/healthz` answers as long as the event loop does (a wedged loop fails the
liveness probe by not answering). `/readyz` follows `ready()`, which the
caller makes false until the first table is live and again while draining.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client.registry import CollectorRegistry

from ingress.observability.exposition import CONTENT_TYPE, render


def admin_app(ready: Callable[[], bool], registry: CollectorRegistry) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready\n")

    async def metrics(request: web.Request) -> web.Response:
        # CONTENT_TYPE carries its own charset; aiohttp's content_type= would reject it.
        return web.Response(body=render(registry), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_admin(
    host: str, port: int, ready: Callable[[], bool], registry: CollectorRegistry
) -> web.AppRunner:
    """Serve the admin endpoints on host:port (0: any free port, see `runner.addresses`).

    The caller stops it with `await runner.cleanup()`.
    """
    runner = web.AppRunner(admin_app(ready, registry), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_address=True).start()
    except OSError as exc:
        await runner.cleanup()
        raise OSError(exc.errno, f"--admin-port {port} on {host}: {exc.strerror}") from exc
    return runner
