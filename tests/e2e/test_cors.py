"""CORS through `portico run`: preflights answered by the proxy, headers on every response."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from e2e.harness import Portico, serving
from kube import objects as o

PODS = ("127.0.0.2",)


@pytest.fixture(scope="module")
def portico(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portico]:
    with serving(tmp_path_factory.mktemp("cors"), PODS, [
        o.annotated(o.ingress("any", host="any.test"), **{"enable-cors": "true"}),
        o.annotated(o.ingress("listed", host="listed.test"), **{
            "enable-cors": "true",
            "cors-allow-origin": "https://app.example.com, https://*.example.org:8443",
            "cors-allow-methods": "GET, POST",
            "cors-allow-headers": "X-Custom, Content-Type",
            "cors-allow-credentials": "false",
            "cors-expose-headers": "X-Trace",
            "cors-max-age": "600",
        }),
        o.annotated(o.ingress("guarded", host="guarded.test"),
                    **{"enable-cors": "true", "whitelist-source-range": "10.0.0.0/8"}),
    ]) as (portico, _):
        yield portico


async def request(portico: Portico, method: str, host: str, path: str = "/",
                  **headers: str) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession() as session, session.request(
        method, portico.url + path, headers={"Host": host, **headers}
    ) as response:
        return response.status, response.headers, await response.read()


async def test_preflight_is_answered_by_the_proxy(portico: Portico) -> None:
    status, headers, body = await request(
        portico, "OPTIONS", "listed.test", "/echo", Origin="https://app.example.com",
        **{"Access-Control-Request-Method": "POST"})
    assert (status, body) == (204, b"")  # the pod would have echoed the request
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET, POST"
    assert headers["Access-Control-Allow-Headers"] == "X-Custom, Content-Type"
    assert headers["Access-Control-Expose-Headers"] == "X-Trace"
    assert headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in headers


async def test_options_from_another_origin_reaches_the_pod_without_cors(portico: Portico) -> None:
    status, headers, body = await request(portico, "OPTIONS", "listed.test", "/echo",
                                          Origin="https://evil.example.net")
    assert status == 200 and b'"method": "OPTIONS"' in body
    assert "Access-Control-Allow-Origin" not in headers


async def test_allowed_origins_are_echoed_on_responses(portico: Portico) -> None:
    for origin in ("https://app.example.com", "https://eu.example.org:8443"):
        status, headers, _ = await request(portico, "GET", "listed.test", Origin=origin)
        assert status == 200 and headers["Access-Control-Allow-Origin"] == origin
    for origin in ("https://a.b.example.org:8443", "https://eu.example.org"):
        _, headers, _ = await request(portico, "GET", "listed.test", Origin=origin)
        assert "Access-Control-Allow-Origin" not in headers


async def test_default_allows_every_origin_with_credentials(portico: Portico) -> None:
    status, headers, _ = await request(portico, "GET", "any.test")
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Allow-Methods"] == "GET, PUT, POST, DELETE, PATCH, OPTIONS"
    status, headers, _ = await request(portico, "OPTIONS", "any.test")
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "*"


async def test_proxy_answers_carry_cors_and_preflight_comes_before_access(
    portico: Portico,
) -> None:
    status, headers, _ = await request(portico, "GET", "guarded.test")
    assert status == 403 and headers["Access-Control-Allow-Origin"] == "*"
    status, headers, _ = await request(portico, "OPTIONS", "guarded.test")
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "*"
