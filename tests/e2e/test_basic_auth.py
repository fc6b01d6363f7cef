"""Basic auth through `portico run`: ingress-nginx's auth.go cases, real hashes, real clients."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from collections.abc import Iterator
from typing import Any

import aiohttp
import bcrypt
import pytest

from e2e.harness import Manifests, Portico, eventually, serving
from kube import objects as o

PODS = ("127.0.0.2",)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def bcrypted(password: str, cost: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


def apr1(password: str) -> str:
    return subprocess.run(["openssl", "passwd", "-apr1", password], capture_output=True,
                          text=True, check=True).stdout.strip()


def users_secret(users: dict[str, str]) -> dict[str, Any]:
    htpasswd = "".join(f"{user}:{hashed}\n" for user, hashed in users.items())
    return o.secret("basic-users", {"auth": b64(htpasswd)})


BASIC = {"auth-type": "basic", "auth-secret": "basic-users", "auth-realm": "test auth"}


class Rig:
    def __init__(self, portico: Portico, manifests: Manifests) -> None:
        self.portico = portico
        self.manifests = manifests


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("basic")
    # A file of its own, which a test rewrites.
    Manifests(base / "manifests").write("users.yaml", [users_secret({
        "foo": bcrypted("bar", 6), "mallory": apr1("apr1-pass"), "slow": bcrypted("pw", 11)})])
    with serving(base, PODS, [
        o.secret("map-users", {"foo": b64(bcrypted("bar", 6))}),
        o.annotated(o.ingress("auth", host="auth.test"), **BASIC),
        o.annotated(o.ingress("map", host="map.test"), **{
            "auth-type": "basic", "auth-secret": "map-users", "auth-secret-type": "auth-map"}),
        o.annotated(o.ingress("cors", host="cors.test"), **{**BASIC, "enable-cors": "true"}),
        o.annotated(o.ingress("broken", host="broken.test"),
                    **{**BASIC, "auth-secret": "something"}),
        o.ingress("open", host="open.test"),
    ]) as (portico, manifests):
        yield Rig(portico, manifests)


async def get(rig: Rig, host: str, auth: tuple[str, str] | None = None,
              **headers: str) -> tuple[int, Any, bytes]:
    if auth is not None:
        headers["Authorization"] = "Basic " + b64(":".join(auth))
    async with aiohttp.ClientSession() as session, session.get(
        rig.portico.url + "/echo", headers={"Host": host, **headers}
    ) as response:
        return response.status, response.headers, await response.read()


async def test_no_credentials_get_401_with_the_realm(rig: Rig) -> None:
    status, headers, _ = await get(rig, "auth.test")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="test auth"'


async def test_wrong_credentials_get_401(rig: Rig) -> None:
    for credentials in (("user", "pass"), ("foo", "baz"), ("mallory", "bar")):
        assert (await get(rig, "auth.test", credentials))[0] == 401
    status, _, _ = await get(rig, "auth.test", Authorization="Basic !!notbase64")
    assert status == 401


async def test_right_credentials_pass_and_the_password_stays_here(rig: Rig) -> None:
    for credentials in (("foo", "bar"), ("mallory", "apr1-pass")):
        status, _, body = await get(rig, "auth.test", credentials)
        assert status == 200, body
        assert b'"authorization"' not in body.lower()  # the pod never sees the credentials
    assert (await get(rig, "map.test", ("foo", "bar")))[0] == 200  # auth-secret-type: auth-map


async def test_401_carries_cors_headers(rig: Rig) -> None:
    status, headers, _ = await get(rig, "cors.test")
    assert status == 401 and headers["Access-Control-Allow-Origin"] == "*"


async def test_missing_secret_answers_503_and_other_ingresses_keep_routing(rig: Rig) -> None:
    assert (await get(rig, "broken.test", ("foo", "bar")))[0] == 503
    assert (await get(rig, "open.test"))[0] == 200


async def test_slow_hashes_do_not_hold_other_requests(rig: Rig) -> None:
    # bcrypt at cost 11 takes a good fraction of a second: checked off the event loop,
    # it must not delay a request to another host that arrives meanwhile.
    finished: list[str] = []

    async def timed(name: str, host: str, auth: tuple[str, str] | None) -> int:
        status = (await get(rig, host, auth))[0]
        finished.append(name)
        return status

    slow = asyncio.ensure_future(timed("slow", "auth.test", ("slow", "pw")))
    await asyncio.sleep(0.05)
    assert await timed("open", "open.test", None) == 200
    assert await slow == 200
    assert finished == ["open", "slow"]
    assert (await get(rig, "auth.test", ("slow", "pw")))[0] == 200  # remembered now


async def test_a_changed_password_takes_effect(rig: Rig) -> None:
    assert (await get(rig, "auth.test", ("foo", "bar")))[0] == 200
    rig.manifests.write("users.yaml", [users_secret({"foo": bcrypted("new", 6)})])

    async def old_refused() -> bool:
        return (await get(rig, "auth.test", ("foo", "bar")))[0] == 401

    await eventually(old_refused, "the old password refused")
    assert (await get(rig, "auth.test", ("foo", "new")))[0] == 200
