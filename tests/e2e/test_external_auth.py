"""External auth (auth-url...) through `portico run`, against a real service: auth.go's cases."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import aiohttp
import bcrypt
import pytest

from e2e.auth_service import AuthService, Rig
from e2e.harness import free_port, serving
from kube import objects as o

PODS = ("127.0.0.2",)
AUTH = "127.0.0.5"
CLOSED = "127.0.0.6"  # nothing listens there


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    auth = AuthService(AUTH, free_port(AUTH))
    checked = f"{auth.url}/basic-auth/user/password"
    signin = {"auth-url": checked, "auth-signin": "http://$host/auth/start"}
    cached = {**signin, "auth-cache-key": "fixed", "auth-cache-duration": "200 201 401 30m"}
    try:
        with serving(tmp_path_factory.mktemp("extauth"), PODS, [
            o.annotated(o.ingress("auth", host="auth.test"), **{
                **signin, "auth-response-headers": "X-Auth-Request-User, Foo"}),
            o.annotated(o.ingress("plain", host="plain.test"), **{"auth-url": checked}),
            o.annotated(o.ingress("param", host="param.test"),
                        **{**signin, "auth-signin-redirect-param": "orig"}),
            o.annotated(o.ingress("post", host="post.test"), **{
                "auth-url": f"{auth.url}/status/200?from=portico", "auth-method": "POST",
                "auth-request-redirect": "https://$host/back", "enable-cors": "true"}),
            o.annotated(o.ingress("forbidden", host="forbidden.test"),
                        **{"auth-url": f"{auth.url}/status/403", "auth-signin": "http://x/in"}),
            o.annotated(o.ingress("broken", host="broken.test"),
                        **{"auth-url": f"{auth.url}/status/502"}),
            o.annotated(o.ingress("unreachable", host="unreachable.test"),
                        **{"auth-url": f"http://{CLOSED}:{free_port(CLOSED)}/check"}),
            o.annotated(o.ingress("slow", host="slow.test"),
                        **{"auth-url": f"{auth.url}/delay/5", "proxy-read-timeout": "1"}),
            o.annotated(o.ingress("patient", host="patient.test"),
                        **{"auth-url": f"{auth.url}/delay/0.3"}),
            o.annotated(o.ingress("invalid", host="invalid.test", path="/denied-auth"),
                        **{"auth-url": "https://invalid..auth.url"}),
            o.annotated(o.ingress("cookies", host="cookies.test"),
                        **{"auth-url": f"{auth.url}/cookies/set/alma/armud",
                          "auth-signin": "http://$host/auth/start"}),
            o.annotated(o.ingress("cookies-always", host="always.test"),
                        **{"auth-url": f"{auth.url}/cookies/set/alma/armud",
                          "auth-always-set-cookie": "true"}),
            o.annotated(o.ingress("foo-this", host="this.test", path="/foo"), **cached),
            o.annotated(o.ingress("bar-this", host="this.test", path="/bar"), **cached),
            o.annotated(o.ingress("foo-that", host="that.test", path="/foo"), **cached),
            o.secret("basic-users", {"auth": base64.b64encode(
                b"uname:" + bcrypt.hashpw(b"pwd", bcrypt.gensalt(4)) + b"\n").decode()}),
            # ingress-nginx's satisfy.go: basic auth or the service, and IP lists with either.
            o.annotated(o.ingress("any", host="any.test"), **{
                **signin, "auth-type": "basic", "auth-secret": "basic-users",
                "auth-realm": "test basic auth", "satisfy": "any"}),
            o.annotated(o.ingress("near", host="near.test"), **{
                "whitelist-source-range": "127.0.0.0/8", "auth-type": "basic",
                "auth-secret": "basic-users", "satisfy": "any"}),
            o.annotated(o.ingress("far", host="far.test"), **{
                "whitelist-source-range": "10.0.0.0/8", "auth-type": "basic",
                "auth-secret": "basic-users", "satisfy": "any"}),
            o.annotated(o.ingress("unlisted", host="unlisted.test"), **{
                "denylist-source-range": "10.0.0.0/8", "auth-type": "basic",
                "auth-secret": "basic-users", "satisfy": "any"}),
            o.annotated(o.ingress("both", host="both.test"), **{
                **signin, "auth-type": "basic", "auth-secret": "basic-users"}),
            o.annotated(o.ingress("all", host="all.test"), **{
                "whitelist-source-range": "127.0.0.0/8", "auth-type": "basic",
                "auth-secret": "basic-users", "satisfy": "all"}),
            o.annotated(o.ingress("head", host="head.test"),
                        **{"auth-url": checked, "auth-method": "HEAD"}),
            o.annotated(o.ingress("pooled", host="pooled.test"), **{
                "auth-url": f"{auth.url}/status/200", "auth-keepalive": "4",
                "auth-keepalive-requests": "100", "auth-keepalive-timeout": "30",
                "auth-keepalive-share-vars": "false"}),
        ]) as (portico, _):
            yield Rig(portico, auth)
    finally:
        auth.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def request(rig: Rig, host: str, path: str = "/", method: str = "GET",
                  data: bytes | None = None, **headers: str) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession() as session, session.request(
        method, rig.portico.url + path, headers={"Host": host, **headers}, data=data,
        allow_redirects=False,
    ) as response:
        return response.status, response.headers, await response.read()


async def test_signed_in_requests_pass(rig: Rig) -> None:
    status, _, _ = await request(rig, "auth.test", Authorization=basic("user", "password"))
    assert status == 200


async def test_not_signed_in_redirects_to_signin_with_the_original_url(rig: Rig) -> None:
    original = quote("/?a=b&c=d", safe="")
    status, headers, _ = await request(rig, "auth.test", "/?a=b&c=d")
    assert status == 302
    assert headers["Location"] == f"http://auth.test/auth/start?rd=http://auth.test{original}"
    status, headers, _ = await request(rig, "param.test", "/?a=b&c=d")
    assert headers["Location"] == f"http://param.test/auth/start?orig=http://param.test{original}"


async def test_without_signin_the_services_401_and_challenge_reach_the_client(rig: Rig) -> None:
    status, headers, _ = await request(rig, "plain.test")
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="Fake Realm"'


async def test_403_refuses_even_with_signin(rig: Rig) -> None:
    assert (await request(rig, "forbidden.test"))[0] == 403


async def test_a_failing_or_silent_service_never_lets_requests_through(rig: Rig) -> None:
    for host in ("broken.test", "unreachable.test"):
        assert (await request(rig, host))[0] == 500
    started = time.monotonic()
    assert (await request(rig, "slow.test"))[0] == 500  # proxy-read-timeout: 1
    assert time.monotonic() - started < 4


async def test_invalid_auth_url_denies_the_location(rig: Rig) -> None:
    assert (await request(rig, "invalid.test", "/denied-auth"))[0] == 503


async def test_auth_response_headers_overwrite_the_clients(rig: Rig) -> None:
    status, _, body = await request(rig, "auth.test", "/echo", Foo="bar",
                                    Authorization=basic("user", "password"))
    assert status == 200
    sent = json.loads(body)["headers"]
    assert sent["x-auth-request-user"] == "user"
    assert "foo" not in sent  # listed, and the service's answer has none: removed


async def test_the_subrequest_carries_what_nginx_sends(rig: Rig) -> None:
    rig.auth.seen.clear()
    status, headers, _ = await request(
        rig, "post.test", "/some/path?q=1", method="PUT", data=b"x" * 100,
        Cookie="session=abc", Authorization="Bearer t0ken", **{"X-Forwarded-Proto": "gopher"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    [seen] = rig.auth.seen
    assert (seen.method, seen.target) == ("POST", "/status/200?from=portico")
    sent = seen.headers
    assert sent["host"] == AUTH
    assert sent["x-original-url"] == "http://post.test/some/path?q=1"
    assert sent["x-original-method"] == "PUT"
    assert sent["x-original-uri"] == "/some/path?q=1" and sent["x-scheme"] == "http"
    assert sent["x-sent-from"] == "nginx-ingress-controller"
    assert sent["x-real-ip"] == sent["x-forwarded-for"] == "127.0.0.1"
    assert sent["x-auth-request-redirect"] == "https://post.test/back"
    assert sent["cookie"] == "session=abc" and sent["authorization"] == "Bearer t0ken"
    assert "x-forwarded-proto" not in sent and "content-length" not in sent


async def test_the_body_waits_for_the_verdict_then_goes_whole(rig: Rig) -> None:
    # 1 MiB: more than the proxy buffers before it stops reading, while the service thinks.
    body = bytes(range(256)) * 4096
    status, _, answer = await request(rig, "patient.test", "/echo", method="POST", data=body)
    assert status == 200
    echoed = json.loads(answer)
    assert echoed["body_length"] == len(body)
    assert echoed["body_sha256"] == hashlib.sha256(body).hexdigest()


async def test_cookies_of_the_service_on_success_only_unless_always(rig: Rig) -> None:
    _, headers, _ = await request(rig, "cookies.test", "/?a=b")
    assert "alma=armud" in headers.get("Set-Cookie", "")
    status, headers, _ = await request(rig, "cookies.test", "/status/503")
    assert status == 503 and "Set-Cookie" not in headers
    status, headers, _ = await request(rig, "always.test", "/status/503")
    assert status == 503 and "alma=armud" in headers.get("Set-Cookie", "")


async def test_cached_answers_survive_the_service_per_host_and_path(rig: Rig) -> None:
    signed_in = basic("user", "password")
    assert (await request(rig, "this.test", "/foo", Authorization=signed_in))[0] == 200
    rig.auth.down = True
    try:
        assert (await request(rig, "this.test", "/foo", Authorization=signed_in))[0] == 200
        assert (await request(rig, "this.test", "/bar", Authorization=signed_in))[0] == 500
        assert (await request(rig, "that.test", "/foo", Authorization=signed_in))[0] == 500
    finally:
        rig.auth.down = False


async def test_connections_to_the_service_are_kept_alive(rig: Rig) -> None:
    rig.auth.seen.clear()
    for _ in range(5):
        assert (await request(rig, "pooled.test"))[0] == 200
    assert len(rig.auth.seen) == 5 and len({seen.port for seen in rig.auth.seen}) == 1
    statuses = await asyncio.gather(*(request(rig, "pooled.test") for _ in range(10)))
    assert {status for status, _, _ in statuses} == {200}


async def test_satisfy_any_takes_basic_auth_or_the_service(rig: Rig) -> None:
    assert (await request(rig, "any.test", Authorization=basic("uname", "pwd")))[0] == 200
    assert (await request(rig, "any.test", Authorization=basic("user", "password")))[0] == 200
    status, headers, _ = await request(rig, "any.test", "/?a=b&c=d")
    assert status == 302  # both refused with 401: the sign-in redirect, as nginx's error_page
    original = quote("/?a=b&c=d", safe="")
    assert headers["Location"] == f"http://any.test/auth/start?rd=http://any.test{original}"


async def test_satisfy_any_with_an_ip_list(rig: Rig) -> None:
    assert (await request(rig, "near.test"))[0] == 200  # loopback is listed: no password
    status, headers, _ = await request(rig, "far.test")
    assert status == 401  # the 401 of basic auth wins over the 403 of the list
    assert headers["WWW-Authenticate"] == 'Basic realm=""'
    assert (await request(rig, "far.test", Authorization=basic("uname", "pwd")))[0] == 200
    # A deny list that does not name the client has no say (nginx's access module
    # declines): it lets nobody in on its own, basic auth decides.
    assert (await request(rig, "unlisted.test"))[0] == 401
    assert (await request(rig, "unlisted.test", Authorization=basic("uname", "pwd")))[0] == 200
    assert (await request(rig, "all.test"))[0] == 401  # satisfy: all needs both
    assert (await request(rig, "all.test", Authorization=basic("uname", "pwd")))[0] == 200


async def test_with_signin_a_basic_auth_401_redirects_too(rig: Rig) -> None:
    status, headers, _ = await request(rig, "both.test")  # satisfy: all, basic auth first
    assert status == 302
    assert headers["Location"].startswith("http://both.test/auth/start?rd=")


async def test_head_subrequests_end_at_the_head(rig: Rig) -> None:
    rig.auth.seen.clear()
    for _ in range(3):  # each answer ends at its head, and the connection is used again
        assert (await request(rig, "head.test", Authorization=basic("user", "password")))[0] == 200
    assert (await request(rig, "head.test"))[0] == 401
    assert {seen.method for seen in rig.auth.seen} == {"HEAD"}
    assert len({seen.port for seen in rig.auth.seen}) == 1
