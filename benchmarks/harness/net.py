"""Loopback ports and a one-shot HTTP(S) probe for readiness and correctness checks."""

from __future__ import annotations

import http.client
import socket
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import urlsplit

from ingress.loadtest.request import insecure_tls_context

LOOPBACK = "127.0.0.1"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct ports free right now (held open together so none repeats)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(base_url: str, path: str, host: str, timeout: float = 2.0) -> Reply:
    """GET `path` from `base_url` with the given Host header."""
    parts = urlsplit(base_url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"url {base_url!r}: needs an explicit host and port")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                           context=insecure_tls_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        body = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


def answers(base_url: str, path: str, host: str, status: int = 200) -> bool:
    """True once `base_url` serves `path` with `status` (readiness probe)."""
    try:
        return fetch(base_url, path, host).status == status
    except (OSError, http.client.HTTPException):
        return False
