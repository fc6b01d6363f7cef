"""A real authentication service for the external-auth tests, answering as httpbin does.

ingress-nginx's e2e tests point auth-url at httpbin's /basic-auth and at
an nginx that sets cookies; this server answers those paths the same way,
on a loopback address, from a thread of its own, and records every
subrequest it gets (method, target, headers, body, client port). The mirror
tests send it their copies.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from e2e.harness import AppServer, Portico


@dataclass(frozen=True)
class Seen:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names, repeated ones joined with ", "
    port: int
    body: bytes = b""


class AuthService(AppServer):
    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.seen: list[Seen] = []
        self.down = False  # answer 503 to everything, as a service whose pods are gone
        app = web.Application()
        app.router.add_route("*", "/basic-auth/{user}/{password}", self._basic_auth)
        app.router.add_route("*", "/cookies/set/{key}/{value}", self._set_cookie)
        app.router.add_route("*", "/status/{code}", self._status)
        app.router.add_route("*", "/delay/{seconds}", self._delay)
        app.middlewares.append(self._record)
        super().__init__(app, host, port)

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}"

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append(Seen(request.method, request.raw_path, headers, peer[1] if peer else 0,
                              await request.read()))
        if self.down:
            return web.Response(status=503)
        response: web.StreamResponse = await handler(request)
        return response

    async def _basic_auth(self, request: web.Request) -> web.Response:
        user, password = request.match_info["user"], request.match_info["password"]
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401,
                                headers={"WWW-Authenticate": 'Basic realm="Fake Realm"'})
        return web.json_response({"authenticated": True, "user": user}, headers={
            "X-Auth-Request-User": user, "X-Auth-Request-Email": f"{user}@example.com"})

    async def _set_cookie(self, request: web.Request) -> web.Response:
        response = web.Response(text="OK\n")
        response.set_cookie(request.match_info["key"], request.match_info["value"])
        return response

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]),
                            headers={"WWW-Authenticate": 'Bearer realm="status"'})

    async def _delay(self, request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.match_info["seconds"]))
        return web.Response(text="late\n")


@dataclass
class Rig:
    """A `portico run` and the auth service its Ingresses ask."""

    portico: Portico
    auth: AuthService
