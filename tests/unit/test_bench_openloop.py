"""The fixed-rate client against a real loopback server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from benchmarks.harness.openloop import Target, open_loop


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        assert request.host == "app.example"
        return web.Response(text="ok\n")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/broken", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_sends_the_rate_asked_for_and_measures_each_answer(server: str) -> None:
    result = await open_loop(f"{server}/ok", "app.example", rate=400, duration_s=1.0,
                             connections=4)
    assert result.sent == 400
    assert result.completed == 400
    assert result.errors == 0
    assert sum(result.per_second) == 400
    assert 0 < result.percentiles_us[50.0] <= result.percentiles_us[99.0] <= result.max_us


async def test_error_statuses_are_counted_not_timed(server: str) -> None:
    result = await open_loop(f"{server}/broken", "app.example", rate=100, duration_s=0.5,
                             connections=2)
    assert result.errors == 50
    assert result.completed == 0
    assert result.percentiles_us == {}


async def test_a_server_that_is_not_there_is_an_error_not_a_hang() -> None:
    with pytest.raises(ConnectionError, match="could not connect"):
        await open_loop("http://127.0.0.1:1/ok", None, rate=10, duration_s=0.5, connections=1)


def test_target_from_url_builds_the_request_once() -> None:
    target = Target.from_url("https://127.0.0.1:8443/a?b=1", "app.example")
    assert (target.host, target.port) == ("127.0.0.1", 8443)
    assert target.tls is not None
    assert target.request == b"GET /a?b=1 HTTP/1.1\r\nHost: app.example\r\n\r\n"
    with pytest.raises(ValueError, match="want http"):
        Target.from_url("ftp://x/", None)
