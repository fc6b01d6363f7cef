"""Machine instructions per proxied request, counted: `python -m benchmarks.instructions`.

`benchmarks.opcount` counts Python bytecodes, which compiled modules no
longer execute. This counts what the CPU executes in the proxy's process in
user space (CPython's C API, the compiled modules, llhttp, uvloop, libc;
not the kernel): callgrind runs opcount's rig twice, for WARMUP and for
WARMUP + REQUESTS keep-alive requests, its client and pod in processes of
their own, and the difference over REQUESTS is one request. Like opcount it
comes out the same on a busy machine, so compiled hot-path changes can be
judged where timings are noise. Needs valgrind (`apt-get install valgrind`);
each run takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import uvloop

from benchmarks.opcount import REQUEST, start_dataplane, start_pod

ROOT = Path(__file__).resolve().parent.parent
# The client: `requests` keep-alive requests, one at a time, each answered before the next.
_CLIENT = """
import socket, sys
request, count = %r, int(sys.argv[2])
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as sock:
    for _ in range(count):
        sock.sendall(request)
        received = b""
        while not received.endswith(b"ok\\n"):
            chunk = sock.recv(65536)
            if not chunk:
                sys.exit("the proxy closed the connection")
            received += chunk
"""


async def _serve(pod_port: int, requests: int) -> int:
    dataplane, port = await start_dataplane(pod_port)
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CLIENT % REQUEST, str(port), str(requests))
    code = await client.wait()
    await dataplane.drain(0.0)
    return code


def serve(requests: int) -> int:
    """Run the rig for `requests` requests in this process (what callgrind counts)."""
    pod, pod_port = start_pod()
    try:
        return uvloop.run(_serve(pod_port, requests))
    finally:
        pod.kill()
        pod.wait()


def counted(requests: int) -> int:
    """Instructions callgrind counts in a process serving `requests` requests."""
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", "--cache-sim=no", "--branch-sim=no",
             f"--callgrind-out-file={scratch}/callgrind.out",
             sys.executable, "-m", "benchmarks.instructions", "--serve", str(requests)],
            cwd=ROOT, env=os.environ, capture_output=True, text=True, check=False)
    match = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode or match is None:
        raise RuntimeError(f"callgrind failed: {result.stderr[-2000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.instructions",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve is not None:
        return serve(args.serve)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install valgrind", file=sys.stderr)
        return 1
    base = counted(args.warmup)
    more = counted(args.warmup + args.requests)
    print(f"per keep-alive request (the proxy's process, user space): "
          f"{(more - base) / args.requests:,.0f} instructions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
