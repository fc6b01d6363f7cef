"""The tests' emulated API server in a process of its own, preloaded with a cluster.

A benchmark must not share a CPU-bound event loop with the API server it
measures against, so this runs apart:

    python -m benchmarks.harness.apiserver OBJECTS.json --port-file PATH

loads every object of the JSON list, serves them on a free loopback port,
writes that port to PATH once it listens, and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

_TESTS = str(Path(__file__).resolve().parents[2] / "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from kube.emulator import Emulator  # noqa: E402
from kube.harness import ApiServer  # noqa: E402


def plural_of(obj: dict[str, Any]) -> str:
    """The emulator's resource name for an object: `group/version/plural`."""
    plural = {"Ingress": "ingresses", "IngressClass": "ingressclasses", "Service": "services",
              "EndpointSlice": "endpointslices", "Secret": "secrets"}[obj["kind"]]
    return f"{obj['apiVersion']}/{plural}"


async def serve(objects_file: Path, port_file: Path) -> None:
    objects = json.loads(objects_file.read_text())
    async with Emulator(forget_served=True) as emulator:
        emulator.resources.load_bundled()
        for obj in objects:
            emulator.put(plural_of(obj), obj)
        del objects
        api = ApiServer(emulator)
        await api.start()
        port_file.write_text(str(api.port))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("objects", type=Path)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.objects, args.port_file))


if __name__ == "__main__":
    main()
