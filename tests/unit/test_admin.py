"""The admin endpoints over a real socket on 127.0.0.1, with a real aiohttp client."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.registry import CollectorRegistry

from ingress.observability.admin import start_admin
from ingress.observability.exposition import CONTENT_TYPE
from ingress.observability.metrics import ProxyStatsCollector
from ingress.observability.stats import ProxyStats


class Admin:
    def __init__(self) -> None:
        self.is_ready = False
        self.stats = ProxyStats()
        self.registry = CollectorRegistry()
        self.registry.register(ProxyStatsCollector(lambda: self.stats))
        self.url = ""


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    state = Admin()
    runner = await start_admin("127.0.0.1", 0, lambda: state.is_ready, state.registry)
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}"
    yield state
    await runner.cleanup()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def test_healthz(admin: Admin) -> None:
    assert await get(admin.url + "/healthz") == (200, "text/plain; charset=utf-8", "ok\n")


async def test_readyz_follows_ready(admin: Admin) -> None:
    status, _, body = await get(admin.url + "/readyz")
    assert (status, body) == (503, "not ready\n")
    admin.is_ready = True
    status, _, body = await get(admin.url + "/readyz")
    assert (status, body) == (200, "ready\n")


async def test_metrics_are_prometheus_text(admin: Admin) -> None:
    admin.stats.active_connections = 4
    status, content_type, body = await get(admin.url + "/metrics")
    assert (status, content_type) == (200, CONTENT_TYPE)
    assert "# TYPE portico_active_connections gauge\nportico_active_connections 4\n" in body


async def test_unknown_path_is_404(admin: Admin) -> None:
    status, _, _ = await get(admin.url + "/nope")
    assert status == 404


async def test_busy_port_names_the_flag() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"--admin-port {port} on 127.0.0.1: "):
            await start_admin("127.0.0.1", port, lambda: True, CollectorRegistry())
