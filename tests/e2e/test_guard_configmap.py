"""The guards' controller ConfigMap keys through `portico run --configmap`, against a real
auth service: global-auth-*, no-auth-locations, limit-req-status-code, and the
ConfigMap of auth-proxy-set-headers (ingress-nginx's global_external_auth.go and
auth.go cases)."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from e2e.auth_service import AuthService, Rig
from e2e.harness import free_port, serving
from kube import objects as o

PODS = ("127.0.0.2",)
AUTH = "127.0.0.5"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    auth = AuthService(AUTH, free_port(AUTH))
    try:
        with serving(tmp_path_factory.mktemp("guard-config"), PODS, [
            o.config_map("controller", ns="ingress-nginx", data={
                "global-auth-url": f"{auth.url}/basic-auth/user/password",
                "global-auth-signin": "http://$host/oauth2/start",
                "no-auth-locations": "/public",
                "limit-req-status-code": "429",
            }),
            o.config_map("auth-headers", {"X-Tenant": "acme", "X-Seen-Host": "$host"}),
            o.ingress("global", host="global.test"),
            o.ingress("public", host="global.test", path="/public"),
            o.annotated(o.ingress("optout", host="optout.test"),
                        **{"enable-global-auth": "false"}),
            o.annotated(o.ingress("limited", host="limited.test"),
                        **{"enable-global-auth": "false", "limit-rpm": "1"}),
            o.annotated(o.ingress("headers", host="headers.test"),
                        **{"auth-url": f"{auth.url}/status/200",
                           "auth-proxy-set-headers": "auth-headers"}),
        ], "--configmap", "ingress-nginx/controller") as (portico, _):
            yield Rig(portico, auth)
    finally:
        auth.close()


async def request(rig: Rig, host: str, path: str = "/", **headers: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(
        rig.portico.url + path, headers={"Host": host, **headers}, allow_redirects=False,
    ) as response:
        await response.read()
        return response.status, response.headers


async def test_global_auth_guards_ingresses_without_annotations(rig: Rig) -> None:
    status, headers = await request(rig, "global.test", "/app")
    assert status == 302 and headers["Location"].startswith(
        "http://global.test/oauth2/start?rd=http://global.test%2Fapp")
    credentials = base64.b64encode(b"user:password").decode()
    assert (await request(rig, "global.test", "/app",
                          Authorization=f"Basic {credentials}"))[0] == 200


async def test_no_auth_locations_and_enable_global_auth_false(rig: Rig) -> None:
    assert (await request(rig, "global.test", "/public/page"))[0] == 200
    assert (await request(rig, "optout.test"))[0] == 200


async def test_limit_req_status_code(rig: Rig) -> None:
    statuses = Counter([(await request(rig, "limited.test"))[0] for _ in range(8)])
    assert statuses == Counter({200: 6, 429: 2})


async def test_auth_proxy_set_headers_reach_the_service(rig: Rig) -> None:
    rig.auth.seen.clear()
    assert (await request(rig, "headers.test"))[0] == 200
    [seen] = rig.auth.seen
    assert seen.headers["x-tenant"] == "acme" and seen.headers["x-seen-host"] == "headers.test"
