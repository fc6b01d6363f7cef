"""Time from an EndpointSlice change in the API to traffic following it.

An in-memory API server (the tests' kmock emulator) feeds a real
`portico run --kubeconfig` process; two demo pods on loopback. Each round
moves the Service's only endpoint to the other pod with a PATCH and then
sends requests through the proxy until the new pod answers.

    .venv/bin/python -m benchmarks.operator_latency [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the emulator lives with the tests

from e2e.harness import free_port  # noqa: E402
from ingress.demo import start_demo_backends  # noqa: E402
from ingress.loadtest.histogram import histogram_of, percentiles_ms  # noqa: E402
from kube import objects as o  # noqa: E402
from kube.emulator import Emulator  # noqa: E402
from kube.harness import INGRESSES, SLICES, ApiServer, write_kubeconfig  # noqa: E402

PODS = ("127.0.0.2", "127.0.0.3")


async def answering_pod(http: aiohttp.ClientSession, url: str) -> str | None:
    async with http.get(url, headers={"Host": "bench.example"}) as rsp:
        if rsp.status != 200:
            return None
        return str((await rsp.json())["pod"]).rsplit(":", 1)[0]


async def wait_for_pod(http: aiohttp.ClientSession, url: str, pod: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await answering_pod(http, url) == pod:
                return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{pod} did not get traffic within {timeout}s")
        # Leave the loop (which also serves the API) and the proxy room between probes.
        await asyncio.sleep(0.002)


async def main(rounds: int) -> None:
    pod_port = free_port()
    backends = await start_demo_backends([(ip, pod_port) for ip in PODS])
    http_port, admin_port = free_port(), free_port()
    async with Emulator(forget_served=True) as emulator:
        emulator.resources.load_bundled()
        api = ApiServer(emulator)
        await api.start()
        emulator.put("networking.k8s.io/v1/ingressclasses", o.ingress_class())
        emulator.put("v1/services", o.service("web", target=pod_port))
        emulator.put("discovery.k8s.io/v1/endpointslices",
                     o.endpoint_slice("web", [PODS[0]], port=pod_port))
        emulator.put("networking.k8s.io/v1/ingresses", o.ingress("bench", host="bench.example"))
        tmp = Path(tempfile.mkdtemp())
        log = (tmp / "portico.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingress.cli", "run", "--kubeconfig",
             str(write_kubeconfig(tmp, api.url)), "--bind", "127.0.0.1", "--admin-bind",
             "127.0.0.1", "--http-port", str(http_port), "--https-port", "0",
             "--admin-port", str(admin_port), "--workers", "1", "--shutdown-delay", "0",
             "--log-format", "text"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{http_port}/"
        samples: list[float] = []
        try:
            async with aiohttp.ClientSession() as http:
                await wait_for_pod(http, url, PODS[0], timeout=30)
                for n in range(rounds):
                    pod = PODS[(n + 1) % 2]
                    started = time.perf_counter()
                    await api.patch(SLICES, "web-abc", {"endpoints": [
                        {"addresses": [pod], "conditions": {"ready": True}}]})
                    await wait_for_pod(http, url, pod, timeout=5)
                    samples.append(time.perf_counter() - started)
            assert await api.call("GET", INGRESSES.format(ns="default") + "/bench")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            log.close()
            await api.close()
            await backends.close()
    ms = percentiles_ms(histogram_of(samples), (50.0, 90.0, 99.0, 100.0))
    print(f"EndpointSlice change → traffic on the new pod, {len(samples)} changes: "
          f"p50 {ms[50.0]:.1f} ms, p90 {ms[90.0]:.1f} ms, p99 {ms[99.0]:.1f} ms, "
          f"max {ms[100.0]:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    asyncio.run(main(parser.parse_args().rounds))
