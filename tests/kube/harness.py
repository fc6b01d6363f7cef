"""Run the emulator on a loopback port (that can go away and come back) and talk to it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import kmock
import yaml

from kube.emulator import Emulator

T = TypeVar("T")

INGRESSES = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"
CLASSES = "/apis/networking.k8s.io/v1/ingressclasses"
SERVICES = "/api/v1/namespaces/{ns}/services"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
SECRETS = "/api/v1/namespaces/{ns}/secrets"
CONFIGMAPS = "/api/v1/namespaces/{ns}/configmaps"


async def eventually(probe: Callable[[], T], timeout: float = 5.0, what: str = "") -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or probe}")
        await asyncio.sleep(0.01)


class ApiServer:
    """An Emulator served over HTTP; `stop()`/`start()` keep the port and the objects."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.port = 0
        self._server: kmock.Server | None = None
        self.session = aiohttp.ClientSession()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = kmock.Server(self.emulator, host="127.0.0.1", port=self.port or None)
        await self._server.__aenter__()
        self.port = self._server.port

    async def stop(self) -> None:
        if self._server is not None:
            # Watch responses never end by themselves: without this, aiohttp
            # waits its default 60 s for them before the port is closed.
            runner = self._server.server.runner
            if runner is not None:
                runner._shutdown_timeout = 0.1
            await self._server.__aexit__(None, None, None)
            self._server = None

    async def close(self) -> None:
        await self.stop()
        await self.session.close()

    async def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
        async with self.session.request(method, self.url + path, json=body,
                                        headers=headers) as rsp:
            assert rsp.status < 300, f"{method} {path}: {rsp.status} {await rsp.text()}"
            result: dict[str, Any] = await rsp.json()
            return result

    async def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        ns = body["metadata"].get("namespace", "default")
        return await self.call("POST", collection.format(ns=ns), body)

    async def patch(self, collection: str, name: str, body: dict[str, Any],
                    ns: str = "default") -> dict[str, Any]:
        return await self.call("PATCH", collection.format(ns=ns) + "/" + name, body)

    async def delete(self, collection: str, name: str, ns: str = "default") -> None:
        await self.call("DELETE", collection.format(ns=ns) + "/" + name)

    def stored(self, plural: str, name: str, ns: str | None = "default") -> dict[str, Any] | None:
        for (resource, namespace, obj_name), obj in self.emulator.objects.items():
            if (resource.plural, namespace, obj_name) == (plural, ns, name) and not obj.deleted:
                raw: dict[str, Any] = obj.raw
                return raw
        return None

    def all(self, plural: str) -> list[dict[str, Any]]:
        return [obj.raw for key, obj in self.emulator.objects.items()
                if key[0].plural == plural and not obj.deleted]


@contextlib.asynccontextmanager
async def running_api(forget_served: bool = False, emulator_type: type[Emulator] = Emulator,
                      prepare: Callable[[Emulator], None] | None = None,
                      ) -> AsyncIterator[ApiServer]:
    """A fresh Emulator with the bundled resource kinds (and what `prepare` adds), served on
    a loopback port."""
    async with emulator_type(forget_served=forget_served) as emulator:
        emulator.resources.load_bundled()
        if prepare is not None:
            prepare(emulator)
        server = ApiServer(emulator)
        await server.start()
        try:
            yield server
        finally:
            await server.close()


def lb_status(api: ApiServer, name: str) -> Any:
    """status.loadBalancer.ingress of Ingress default/`name` (None: not written)."""
    body = api.stored("ingresses", name) or {}
    return ((body.get("status") or {}).get("loadBalancer") or {}).get("ingress")


def write_kubeconfig(directory: Path, server: str, namespace: str = "default") -> Path:
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "not-checked"}}],
        "contexts": [{"name": "emulator", "context": {
            "cluster": "emulator", "user": "tester", "namespace": namespace}}],
    }))
    return path
