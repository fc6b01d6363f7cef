"""Demo pods: small HTTP servers that say which address served a request.

`portico demo` starts them at `DEMO_ADDRESSES` (the endpoints in
examples/demo/), and the end-to-end tests use the same servers as real
upstreams, on port 0. Every pod answers:

- any path, any method: JSON echo of the request (pod, method, path, query,
  headers, peer address) with the length and sha256 of the body it received
- `/status/{code}`: that status (with the echo as body when one is allowed)
- `/delay/{seconds}`: the echo after a pause
- `/response-headers?Name=value&...`: the echo with those response headers (a name may repeat)
- `/bytes/{n}`: `demo_bytes(n)` with Content-Length, streamed
- `/chunked/{n}`: `demo_bytes(n)` with chunked transfer encoding
- `/ws`: WebSocket echo of text and binary messages
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import signal
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

DEMO_ADDRESSES: tuple[tuple[str, int], ...] = (("127.0.0.2", 8081), ("127.0.0.3", 8081))

_BLOCK = bytes(range(256)) * 256  # 64 KiB
MAX_DELAY = 300.0
# Proxies under test forward headers up to their own limit (32 KiB by default).
_HEADER_LIMIT = 65536


def demo_bytes(n: int) -> bytes:
    """The body `/bytes/{n}` and `/chunked/{n}` send: 0, 1, ..., 255, 0, 1, ..."""
    whole, rest = divmod(n, len(_BLOCK))
    return _BLOCK * whole + _BLOCK[:rest]


async def _echo(request: web.Request) -> dict[str, Any]:
    digest = hashlib.sha256()
    length = 0
    async for chunk in request.content.iter_any():
        digest.update(chunk)
        length += len(chunk)
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    peername = request.transport.get_extra_info("peername") if request.transport else None
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return {
        "pod": f"{sockname[0]}:{sockname[1]}" if sockname else "",
        "method": request.method,
        "path": request.rel_url.raw_path,
        "query": request.rel_url.raw_query_string,
        "http_version": f"{request.version.major}.{request.version.minor}",
        "headers": headers,
        "remote": request.remote or "",
        "peer": f"{peername[0]}:{peername[1]}" if peername else "",
        "body_length": length,
        "body_sha256": digest.hexdigest(),
    }


def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(payload), content_type="application/json")


def _number(request: web.Request, name: str, kind: type[int] | type[float]) -> int | float:
    raw = request.match_info[name]
    try:
        value = kind(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: {raw!r} is not a number\n") from None
    if value < 0:
        raise web.HTTPBadRequest(text=f"{name}: must not be negative\n")
    return value


async def echo(request: web.Request) -> web.Response:
    return _json(await _echo(request))


async def status(request: web.Request) -> web.Response:
    code = int(_number(request, "code", int))
    if not 200 <= code <= 599:
        raise web.HTTPBadRequest(text="code: must be 200..599\n")
    payload = await _echo(request)
    if code in (204, 304):
        return web.Response(status=code)
    return _json(payload, code)


async def delay(request: web.Request) -> web.Response:
    seconds = min(float(_number(request, "seconds", float)), MAX_DELAY)
    payload = await _echo(request)
    await asyncio.sleep(seconds)
    return _json(payload)


async def response_headers(request: web.Request) -> web.Response:
    response = _json(await _echo(request))
    for name, value in request.query.items():
        response.headers.add(name, value)
    return response


async def _stream(request: web.Request, chunked: bool) -> web.StreamResponse:
    remaining = int(_number(request, "n", int))
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    if chunked:
        response.enable_chunked_encoding()
    else:
        response.content_length = remaining
    await response.prepare(request)
    while remaining > 0:
        chunk = _BLOCK if remaining >= len(_BLOCK) else _BLOCK[:remaining]
        await response.write(chunk)  # waits while the client is slow: backpressure
        remaining -= len(chunk)
    await response.write_eof()
    return response


async def fixed_bytes(request: web.Request) -> web.StreamResponse:
    return await _stream(request, chunked=False)


async def chunked_bytes(request: web.Request) -> web.StreamResponse:
    return await _stream(request, chunked=True)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type is WSMsgType.TEXT:
            await ws.send_str(message.data)
        elif message.type is WSMsgType.BINARY:
            await ws.send_bytes(message.data)
    return ws


def demo_app() -> web.Application:
    app = web.Application(handler_args={"max_line_size": _HEADER_LIMIT,
                                        "max_field_size": _HEADER_LIMIT})
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_route("*", "/delay/{seconds}", delay)
    app.router.add_route("*", "/response-headers", response_headers)
    app.router.add_get("/bytes/{n}", fixed_bytes)
    app.router.add_get("/chunked/{n}", chunked_bytes)
    app.router.add_get("/ws", websocket)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


class DemoBackends:
    """Running demo pods; `addresses` are where they actually listen (port 0 resolved)."""

    def __init__(self, runners: list[web.AppRunner]) -> None:
        self._runners = runners
        self.addresses: list[tuple[str, int]] = [
            (str(addr[0]), int(addr[1])) for runner in runners for addr in runner.addresses
        ]

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()


async def start_demo_backends(addresses: Iterable[tuple[str, int]]) -> DemoBackends:
    runners: list[web.AppRunner] = []
    try:
        for host, port in addresses:
            runner = web.AppRunner(demo_app(), access_log=None, handle_signals=False)
            runners.append(runner)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
    except OSError:
        await DemoBackends(runners).close()
        raise
    return DemoBackends(runners)


def run_echo(bind: str, port: int) -> int:
    """`portico echo`: one demo pod in the foreground, until SIGTERM or SIGINT.

    It is the backend the chart's `helm test` deploys: the same image, no other.
    """

    async def serve() -> int:
        try:
            backends = await start_demo_backends([(bind, port)])
        except OSError as error:
            print(f"portico echo: cannot listen on {bind}:{port}: {error}", file=sys.stderr)
            return 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # As a container's PID 1 the default actions do not apply: stop on purpose.
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print(f"portico echo: serving on {bind}:{port}", file=sys.stderr)
        await stop.wait()
        await backends.close()
        return 0

    return asyncio.run(serve())


def run_demo(manifests: str, http_port: int, https_port: int, admin_port: int) -> int:
    """`portico demo`: the demo pods, then `portico run --manifests` on loopback.

    The pods run on their own loop in a daemon thread, so the proxy runs exactly
    as `portico run` does; they go away with the process.
    """
    from ingress.serve import run
    from ingress.settings import Settings

    started: Future[None] = Future()

    async def pods() -> None:
        try:
            await start_demo_backends(DEMO_ADDRESSES)
        except OSError as error:
            started.set_exception(error)
            return
        started.set_result(None)
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(pods(),), name="demo-pods", daemon=True).start()
    try:
        started.result()
    except OSError as error:
        # 127.0.0.2 and .3 are loopback on Linux; macOS needs `ifconfig lo0 alias 127.0.0.2`.
        print(f"portico demo: cannot start the demo pods: {error}", file=sys.stderr)
        return 1
    write_demo_secret(Path(manifests))
    pods_at = ", ".join(f"{host}:{port}" for host, port in DEMO_ADDRESSES)
    print(f"demo pods on {pods_at}; try:\n"
          f"  curl -H 'Host: hello.local' http://127.0.0.1:{http_port}/\n"
          f"  curl -H 'Host: demo.local' http://127.0.0.1:{http_port}/echo/hi\n"
          f"  curl -H 'Host: nothing.local' http://127.0.0.1:{http_port}/\n"
          f"  curl -k --resolve secure.local:{https_port}:127.0.0.1 https://secure.local:{https_port}/\n"
          f"  curl http://127.0.0.1:{admin_port}/metrics", file=sys.stderr)
    return run(Settings(
        manifests=manifests, bind="127.0.0.1", http_port=http_port, https_port=https_port,
        admin_bind="127.0.0.1", admin_port=admin_port, workers=1, log_format="text",
        shutdown_delay=0.0, shutdown_grace=2.0,
    ))


def write_demo_secret(directory: Path) -> None:
    """A fresh certificate for secure.local as a TLS Secret manifest (git ignores it)."""
    from ingress.model import ObjectRef
    from ingress.tls.default_certificate import self_signed_certificate

    ref = ObjectRef("Secret", "default", "demo-tls")
    cert = self_signed_certificate("secure.local", ("secure.local",), ref)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": ref.name, "namespace": ref.namespace},
        "data": {
            "tls.crt": base64.b64encode(cert.cert_pem).decode(),
            "tls.key": base64.b64encode(cert.key_pem).decode(),
        },
    }
    (directory / "demo-tls.generated.yaml").write_text(json.dumps(secret, indent=2) + "\n")
