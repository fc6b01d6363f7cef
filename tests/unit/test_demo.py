"""The demo: its manifests build the routes they promise, and its pods answer as documented."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import kubernetes_validate
import pytest
import yaml

from ingress.demo import (
    DEMO_ADDRESSES,
    DemoBackends,
    demo_bytes,
    start_demo_backends,
    write_demo_secret,
)
from ingress.pipeline import Reconciler
from ingress.settings import BuildSettings
from ingress.sources.files import run_file_source

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"


@pytest.mark.parametrize(
    "path", sorted(p for p in DEMO.glob("*.yaml") if not p.name.endswith(".generated.yaml")),
    ids=lambda p: p.name)
def test_demo_manifests_are_valid_kubernetes(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


async def test_demo_manifests_route_as_documented(tmp_path: Path) -> None:
    # The committed manifests plus the certificate `portico demo` generates at start.
    for manifest in DEMO.glob("*.yaml"):
        if not manifest.name.endswith(".generated.yaml"):
            shutil.copy(manifest, tmp_path)
    write_demo_secret(tmp_path)
    reconciler = Reconciler(BuildSettings(), [])
    stop = asyncio.Event()
    source = asyncio.create_task(run_file_source(str(tmp_path), reconciler, stop))
    try:
        async with asyncio.timeout(5):
            while not reconciler.synced:
                await asyncio.sleep(0.01)
        result = reconciler.rebuild()
    finally:
        stop.set()
        await source
    assert result.problems == ()
    table = result.table

    def served_by(host: str, path: str) -> tuple[str, set[tuple[str, int]]]:
        route = table.route(host, path)
        assert route is not None, f"{host}{path} has no route"
        return route.backend.service, {e.address for e in table.endpoint_set(route.backend).ready}

    pods = set(DEMO_ADDRESSES)
    assert served_by("hello.local", "/anything") == ("hello", pods)
    assert served_by("demo.local", "/") == ("hello", pods)
    assert served_by("demo.local", "/echo/x") == ("echo", {DEMO_ADDRESSES[1]})


@pytest.fixture
async def pods() -> AsyncIterator[DemoBackends]:
    backends = await start_demo_backends([("127.0.0.2", 0), ("127.0.0.3", 0)])
    yield backends
    await backends.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def url(backends: DemoBackends, path: str, pod: int = 0) -> str:
    host, port = backends.addresses[pod]
    return f"http://{host}:{port}{path}"


async def test_each_pod_names_itself(pods: DemoBackends, session: aiohttp.ClientSession) -> None:
    for index, (host, port) in enumerate(pods.addresses):
        async with session.get(url(pods, "/", index)) as response:
            assert (await response.json())["pod"] == f"{host}:{port}"


async def test_echo_reports_the_request(pods: DemoBackends,
                                        session: aiohttp.ClientSession) -> None:
    body = b"x" * 100_000
    async with session.post(url(pods, "/some/a%2Fb?a=1&b=2"), data=body,
                            headers={"X-Test": "one"}) as response:
        echo = await response.json()
    assert response.status == 200
    assert {k: echo[k] for k in ("method", "path", "query", "http_version", "remote")} == {
        "method": "POST", "path": "/some/a%2Fb", "query": "a=1&b=2", "http_version": "1.1",
        "remote": "127.0.0.1"}
    assert echo["headers"]["x-test"] == "one"
    assert echo["body_length"] == len(body)
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize(("path", "status", "has_body"), [
    ("/status/418", 418, True), ("/status/503", 503, True), ("/status/204", 204, False),
    ("/status/99", 400, True), ("/status/abc", 400, True), ("/delay/-1", 400, True),
])
async def test_status(pods: DemoBackends, session: aiohttp.ClientSession,
                      path: str, status: int, has_body: bool) -> None:
    async with session.get(url(pods, path)) as response:
        assert response.status == status
        assert bool(await response.read()) == has_body


async def test_delay(pods: DemoBackends, session: aiohttp.ClientSession) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with session.get(url(pods, "/delay/0.2")) as response:
        assert response.status == 200
    assert loop.time() - started >= 0.2


async def test_bytes_have_a_length_and_chunked_do_not(
        pods: DemoBackends, session: aiohttp.ClientSession) -> None:
    n = 200_001  # not a multiple of the 64 KiB block
    async with session.get(url(pods, f"/bytes/{n}")) as response:
        assert response.headers["Content-Length"] == str(n)
        assert await response.read() == demo_bytes(n)
    async with session.get(url(pods, f"/chunked/{n}")) as response:
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in response.headers
        assert await response.read() == demo_bytes(n)


def test_demo_bytes_pattern() -> None:
    data = demo_bytes(70_000)
    assert len(data) == 70_000
    assert all(byte == index % 256 for index, byte in enumerate(data))


async def test_websocket_echo(pods: DemoBackends, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(url(pods, "/ws")) as ws:
        await ws.send_str("hello")
        assert await ws.receive_str() == "hello"
        await ws.send_bytes(b"\x00\x01")
        assert await ws.receive_bytes() == b"\x00\x01"


async def test_large_headers_are_accepted(pods: DemoBackends,
                                          session: aiohttp.ClientSession) -> None:
    big = "v" * 20_000
    async with session.get(url(pods, "/"), headers={"X-Big": big}) as response:
        assert json.loads(await response.text())["headers"]["x-big"] == big
