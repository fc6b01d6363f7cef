"""The guards' controller ConfigMap keys through `portico run --configmap`, against a real
auth service: global-auth-*, no-auth-locations, limit-req-status-code, the
ConfigMap of auth-proxy-set-headers, the access keys (block-*, the default IP
lists) and http-redirect-code (ingress-nginx's global_external_auth.go,
global_access_block.go and auth.go cases)."""

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
                "block-cidrs": "127.0.0.9",
                "denylist-source-range": "127.0.0.10",
                # ingress-nginx's global_access_block.go values
                "block-user-agents": r"~*chrome\/68\.0\.3440\.106\ safari\/537\.36,AlphaBot",
                "block-referers": r"~*example\.com,qwerty",
                "http-redirect-code": "301",
                "preserve-trailing-slash": "true",
                "add-headers": "added",  # in the controller ConfigMap's namespace
                "proxy-set-headers": "default/proxy-headers",
            }),
            # ingress-nginx's custom_header.go values
            o.config_map("added", ns="ingress-nginx", data={
                "X-First": "Prepare for trouble!", "X-Second": "And make it double!"}),
            o.config_map("proxy-headers", {"X-Different-Name": "true",
                                           "X-Seen-At": "$host$request_uri"}),
            o.config_map("auth-headers", {"X-Tenant": "acme", "X-Seen-Host": "$host"}),
            o.ingress("global", host="global.test"),
            o.ingress("public", host="global.test", path="/public"),
            o.annotated(o.ingress("optout", host="optout.test"),
                        **{"enable-global-auth": "false"}),
            o.annotated(o.ingress("listed", host="listed.test"),
                        **{"enable-global-auth": "false", "denylist-source-range": "127.0.0.11"}),
            o.annotated(o.ingress("forced", host="forced.test"),
                        **{"enable-global-auth": "false", "force-ssl-redirect": "true"}),
            o.annotated(o.ingress("limited", host="limited.test"),
                        **{"enable-global-auth": "false", "limit-rpm": "1"}),
            o.annotated(o.ingress("headers", host="headers.test"),
                        **{"auth-url": f"{auth.url}/status/200",
                           "auth-proxy-set-headers": "auth-headers"}),
        ], "--configmap", "ingress-nginx/controller") as (portico, _):
            yield Rig(portico, auth)
    finally:
        auth.close()


async def request(rig: Rig, host: str, path: str = "/", client: str = "127.0.0.1",
                  **headers: str) -> tuple[int, Any]:
    connector = aiohttp.TCPConnector(local_addr=(client, 0))
    async with aiohttp.ClientSession(connector=connector) as session, session.get(
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


async def test_add_headers_and_proxy_set_headers(rig: Rig) -> None:
    async with aiohttp.ClientSession() as session, session.get(
        rig.portico.url + "/seen?a=1", headers={"Host": "optout.test"}
    ) as response:
        assert response.status == 200
        assert response.headers["X-First"] == "Prepare for trouble!"
        assert response.headers["X-Second"] == "And make it double!"
        echoed = (await response.json())["headers"]
    assert echoed["x-different-name"] == "true"
    assert echoed["x-seen-at"] == "optout.test/seen?a=1"


async def test_auth_proxy_set_headers_reach_the_service(rig: Rig) -> None:
    rig.auth.seen.clear()
    assert (await request(rig, "headers.test"))[0] == 200
    [seen] = rig.auth.seen
    assert seen.headers["x-tenant"] == "acme" and seen.headers["x-seen-host"] == "headers.test"


CHROME_68 = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/68.0.3440.106 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 11_4_1 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/11.0 Mobile/15E148 Safari/604.1")


@pytest.mark.parametrize(("headers", "status"), [
    ({"User-Agent": CHROME_68}, 403),
    ({"User-Agent": "AlphaBot"}, 403),
    ({"User-Agent": "alphabot"}, 403),  # nginx's map compares text ignoring case
    ({"User-Agent": IPHONE}, 200),
    ({"Referer": "example.com"}, 403),
    ({"Referer": "qwerty"}, 403),
    ({"Referer": "qwerty123"}, 200),
])
async def test_block_user_agents_and_referers(rig: Rig, headers: dict[str, str],
                                              status: int) -> None:
    assert (await request(rig, "optout.test", **headers))[0] == status
    # Before global auth (nginx's server rewrite phase comes first).
    assert (await request(rig, "global.test", **headers))[0] == (302 if status == 200 else 403)


async def test_block_cidrs_and_the_default_ip_lists(rig: Rig) -> None:
    assert (await request(rig, "optout.test", client="127.0.0.9"))[0] == 403  # block-cidrs
    assert (await request(rig, "optout.test", client="127.0.0.10"))[0] == 403  # denylist
    assert (await request(rig, "optout.test", client="127.0.0.11"))[0] == 200
    # The annotation replaces the ConfigMap's denylist; block-cidrs stay.
    assert (await request(rig, "listed.test", client="127.0.0.10"))[0] == 200
    assert (await request(rig, "listed.test", client="127.0.0.11"))[0] == 403
    assert (await request(rig, "listed.test", client="127.0.0.9"))[0] == 403


async def test_http_redirect_code_and_preserve_trailing_slash(rig: Rig) -> None:
    status, headers = await request(rig, "forced.test", "/app/")
    assert status == 301 and headers["Location"] == "https://forced.test/app/"
