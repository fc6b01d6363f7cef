"""The controller ConfigMap (--configmap) from a manifest directory and from the API server.

Both paths hot-reload: a changed key reaches every worker without a
restart, and a bad key is a problem naming it while the rest applies
(ingress-nginx's test/e2e/settings/configmap_change.go and the keys' own
settings tests).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from e2e.harness import Manifests, Portico, demo_pods, eventually, start_ready
from kube import objects as o
from kube.harness import (
    CONFIGMAPS,
    INGRESSES,
    SERVICES,
    SLICES,
    ApiServer,
    running_api,
    write_kubeconfig,
)

PODS = ("127.0.0.2",)


@pytest.fixture(scope="module")
def pods() -> Iterator[int]:
    with demo_pods(PODS) as port:
        yield port


async def post(url: str, size: int, host: str = "web.test") -> int:
    async with aiohttp.ClientSession() as session, session.post(
        url + "/upload", data=b"x" * size, headers={"Host": host}
    ) as response:
        return response.status


def tls12_only() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


async def https_headers(url: str, context: ssl.SSLContext) -> dict[str, str] | None:
    """The response headers over HTTPS, or None when the handshake fails."""
    try:
        async with aiohttp.ClientSession() as session, session.get(
            url, headers={"Host": "web.test"}, ssl=context
        ) as response:
            return dict(response.headers)
    except aiohttp.ClientConnectorError:
        return None


async def test_a_manifest_config_map_applies_in_every_worker_without_restart(
    pods: int, tmp_path: Path
) -> None:
    manifests = Manifests(tmp_path / "manifests")
    objects = [o.ingress_class(), o.service("web", target=pods),
               o.endpoint_slice("web", list(PODS), port=pods),
               o.ingress("web", host="web.test")]
    manifests.write("objects.yaml", objects)
    manifests.write("config.yaml", [o.config_map("controller", {
        "proxy-body-size": "1k", "ssl-protocols": "TLSv1.3", "no-such-key": "1"}, "ingress-nginx")])
    portico = start_ready(manifests.root, "--configmap", "ingress-nginx/controller",
                          "--workers", "2", log=tmp_path / "portico.log")
    try:
        tls12 = tls12_only()
        for _ in range(4):  # whichever worker takes the connection
            assert await post(portico.url, 2048) == 413
            assert await https_headers(portico.secure_url, tls12) is None
        assert 'data["no-such-key"]: is not an ingress-nginx ConfigMap key' in portico.logs()
        any_tls = tls12_only()
        any_tls.maximum_version = ssl.TLSVersion.TLSv1_3
        headers = await https_headers(portico.secure_url, any_tls)
        assert headers is not None  # hsts defaults to true with includeSubDomains
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"

        manifests.write("config.yaml", [o.config_map("controller", {
            "proxy-body-size": "8k", "hsts": "false", "ssl-protocols": "TLSv1.2 TLSv1.3",
        }, "ingress-nginx")])

        async def applied_everywhere() -> bool:
            for _ in range(4):
                headers = await https_headers(portico.secure_url, tls12)
                if await post(portico.url, 2048) != 200 or headers is None \
                        or "Strict-Transport-Security" in headers:
                    return False
            return True

        await eventually(applied_everywhere, "the new ConfigMap in both workers")
    finally:
        portico.stop()


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    async with running_api() as server:
        yield server


async def test_the_watched_config_map_and_custom_headers_hot_reload(
    api: ApiServer, pods: int, tmp_path: Path
) -> None:
    api.emulator.put("networking.k8s.io/v1/ingressclasses", o.ingress_class())
    await api.create(SERVICES, o.service("web", target=pods))
    await api.create(SLICES, o.endpoint_slice("web", list(PODS), port=pods))
    ingress = o.ingress("web", host="web.test")
    ingress["metadata"]["annotations"] = {
        "nginx.ingress.kubernetes.io/custom-headers": "default/headers"}
    await api.create(INGRESSES, ingress)
    await api.create(INGRESSES, o.ingress("plain", host="plain.test"))
    await api.create(CONFIGMAPS, o.config_map("headers", {"X-Team": "blue"}))
    await api.create(CONFIGMAPS, o.config_map("controller", {"proxy-body-size": "1k"}))
    kubeconfig = write_kubeconfig(tmp_path, api.url)
    portico = Portico(None, "--kubeconfig", str(kubeconfig), "--configmap", "default/controller",
                      log=tmp_path / "portico.log")

    async def fetch() -> tuple[int, str | None]:
        async with aiohttp.ClientSession() as session, session.get(
            portico.url, headers={"Host": "web.test"}
        ) as response:
            return response.status, response.headers.get("X-Team")

    try:
        await asyncio.to_thread(portico.wait_ready)  # the emulator runs on this loop
        # X-Team is not yet in global-allowed-response-headers: ingress-nginx denies (503).
        assert await fetch() == (503, None)
        assert await post(portico.url, 2048, "plain.test") == 413
        await api.patch(CONFIGMAPS, "controller", {"data": {
            "proxy-body-size": "8k", "global-allowed-response-headers": "X-Team"}})

        async def allowed() -> bool:
            return await fetch() == (200, "blue") and \
                await post(portico.url, 2048, "plain.test") == 200

        await eventually(allowed, "the patched controller ConfigMap")
        await api.patch(CONFIGMAPS, "headers", {"data": {"X-Team": "green"}})

        async def changed() -> bool:
            return await fetch() == (200, "green")

        await eventually(changed, "the patched custom-headers ConfigMap")
    finally:
        portico.stop()
