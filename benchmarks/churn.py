"""Configuration churn under keep-alive load, shared by the zero-loss test and the soak.

`ChurnPlan` changes the objects the way a busy cluster does: an unrelated
Ingress comes and goes, the target Ingress's path flips between Prefix and
ImplementationSpecific, its endpoints scale between one and five pods, and
its TLS Secret is rotated. `Churn` writes those changes into a manifest
directory; the Kubernetes churn test sends them to an API server. `Traffic`
keeps plain-HTTP and HTTPS clients sending requests back to back through
Portico meanwhile, counting every outcome and the latency of every answer.

The pods are `e2e.harness.Pods` on `PODS` + `OTHER_POD`, all on one port.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import ssl
import sys
import time
from array import array
from pathlib import Path
from typing import Any

import aiohttp
import trustme

_TESTS = str(Path(__file__).resolve().parents[1] / "tests")
if _TESTS not in sys.path:  # pytest has it already; `python -m benchmarks.soak` does not
    sys.path.insert(0, _TESTS)

from e2e.harness import Manifests  # noqa: E402
from kube import objects as o  # noqa: E402

HOST = "churn.test"
PODS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6")
OTHER_POD = "127.0.0.7"  # serves only the unrelated Ingresses
SCALES = (PODS[:1], PODS, PODS[1:3], PODS[2:5], PODS[:2])
STEP_INTERVAL = 0.1
ROTATE_EVERY = 5  # steps between two TLS secret rotations


def pod_of(reply: dict[str, Any]) -> str:
    """The address of the demo pod that wrote this echo."""
    return str(reply["pod"]).rpartition(":")[0]


def tls_secret(name: str, leaf: trustme.LeafCert) -> dict[str, Any]:
    def b64(blob: trustme.Blob) -> str:
        return base64.b64encode(blob.bytes()).decode()

    return o.secret(
        name,
        {"tls.crt": b64(leaf.cert_chain_pems[0]), "tls.key": b64(leaf.private_key_pem)},
        type_="kubernetes.io/tls",
    )


class Load:
    """Keep-alive clients sending requests back to back, counting every outcome.

    Each answer's completion time and latency (`time.perf_counter` seconds)
    go into two flat arrays: two appends per request, no objects, so
    recording stays cheap over a run of minutes.
    """

    def __init__(self, url: str, host: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = url
        self.host = host
        self.ssl = ssl_context
        self.ok = 0
        self.failures: list[str] = []
        self.pods: set[str] = set()
        self.done_at: array[float] = array("d")
        self.latency: array[float] = array("d")
        self.stop = asyncio.Event()

    async def client(self) -> None:
        connector = aiohttp.TCPConnector(limit=1, ssl=self.ssl if self.ssl is not None else False)
        server_hostname = self.host if self.ssl is not None else None
        async with aiohttp.ClientSession(connector=connector) as session:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                started = time.perf_counter()
                try:
                    async with session.get(
                        f"{self.url}/r/{n}",
                        headers={"Host": self.host},
                        server_hostname=server_hostname,
                    ) as response:
                        if response.status != 200:
                            self.failures.append(f"{response.status}: {await response.text()}")
                            continue
                        pod = pod_of(await response.json())
                except (aiohttp.ClientError, OSError) as error:
                    self.failures.append(repr(error))
                    continue
                finished = time.perf_counter()
                self.done_at.append(finished)
                self.latency.append(finished - started)
                self.pods.add(pod)
                self.ok += 1


Change = tuple[str, list[dict[str, Any]] | None]
"""A named group of objects that changes as one (a manifest file), or None when it goes away."""


class ChurnPlan:
    """The churned objects and each step's changes to them; where they go is up to the caller."""

    def __init__(self, pod_port: int) -> None:
        self.pod_port = pod_port
        self.ca = trustme.CA()
        self.steps = 0
        self.rotations = 0
        self._scales = itertools.cycle(SCALES)
        self._path_types = itertools.cycle(["ImplementationSpecific", "Prefix"])

    def client_ssl(self) -> ssl.SSLContext:
        """A client context trusting the CA that signs every rotated certificate."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def initial(self) -> list[Change]:
        return [("class", [o.ingress_class()]), self._secret(), self._target(SCALES[0], "Prefix")]

    def next(self) -> list[Change]:
        step = self.steps
        changes: list[Change] = []
        if step % 2:
            unrelated = o.ingress(f"u{step}", host=f"u{step}.test", service="other")
            changes.append((f"unrelated-{step}", [unrelated]))
        elif step:
            changes.append((f"unrelated-{step - 1}", None))
        changes.append(self._target(next(self._scales), next(self._path_types)))
        if step % ROTATE_EVERY == 0:
            changes.append(self._secret())
        self.steps += 1
        return changes

    def _target(self, endpoints: tuple[str, ...], path_type: str) -> Change:
        ingress = o.ingress(
            "target", host=HOST, path_type=path_type, service="target", tls_secret="churn-tls"
        )
        # Plain-HTTP clients take part too, so no redirect to HTTPS.
        ingress["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/ssl-redirect": "false"}
        return ("target", [
            o.service("target", target=self.pod_port),
            o.endpoint_slice("target", list(endpoints), port=self.pod_port),
            ingress,
            o.service("other", target=self.pod_port),
            o.endpoint_slice("other", [OTHER_POD], port=self.pod_port),
        ])

    def _secret(self) -> Change:
        self.rotations += 1
        return ("secret", [tls_secret("churn-tls", self.ca.issue_cert(HOST))])


class Churn(ChurnPlan):
    """The churn plan written into a manifest directory, one file per group of objects."""

    def __init__(self, manifests: Manifests, pod_port: int) -> None:
        super().__init__(pod_port)
        self.manifests = manifests

    def write_initial(self) -> None:
        self._write(self.initial())

    def step(self) -> None:
        self._write(self.next())

    async def run(self, seconds: float) -> None:
        """Step every `STEP_INTERVAL` for `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.step()
            await asyncio.sleep(STEP_INTERVAL)

    def _write(self, changes: list[Change]) -> None:
        for group, objects in changes:
            if objects is None:
                self.manifests.remove(f"{group}.yaml")
            else:
                self.manifests.write(f"{group}.yaml", objects)


class Traffic:
    """Plain-HTTP and HTTPS `Load` on the churned host through one Portico."""

    def __init__(self, http_url: str, https_url: str, client_ssl: ssl.SSLContext,
                 plain_clients: int = 3, secure_clients: int = 1) -> None:
        self.plain = Load(http_url, HOST)
        self.secure = Load(https_url, HOST, client_ssl)
        self._counts = ((self.plain, plain_clients), (self.secure, secure_clients))
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def loads(self) -> tuple[Load, Load]:
        return self.plain, self.secure

    def start(self) -> None:
        self._tasks = [asyncio.create_task(load.client())
                       for load, count in self._counts for _ in range(count)]

    async def stop(self) -> None:
        for load in self.loads:
            load.stop.set()
        await asyncio.gather(*self._tasks)
