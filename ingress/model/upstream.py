"""How requests travel to the pods: protocol and TLS, retries, buffering.

The parts of ingress-nginx's `proxy_*` configuration a route can carry. Each
is None (or its default) on a route that did not ask for it, so the proxy
looks at it only on the paths that need it: a failure, a paused client, a
response that is too slow for its client.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


class BackendProtocol(StrEnum):
    """What the pods speak (`backend-protocol`)."""

    HTTP = "HTTP"
    HTTPS = "HTTPS"
    GRPC = "GRPC"  # HTTP/2 without TLS
    GRPCS = "GRPCS"  # HTTP/2 over TLS


# The protocols spoken to pods over HTTP/2.
H2_PROTOCOLS = frozenset((BackendProtocol.GRPC, BackendProtocol.GRPCS))


# nginx's proxy_ssl_protocols when ingress-nginx writes none (no proxy-ssl-secret).
NGINX_PROXY_SSL_PROTOCOLS = ("TLSv1.2", "TLSv1.3")


@dataclass(frozen=True, slots=True)
class UpstreamTls:
    """TLS to the pods (`backend-protocol: HTTPS` with the `proxy-ssl-*` annotations).

    `name` is the name the pod's certificate must carry when `verify` is on,
    and the SNI sent when `server_name` is on. `key` identifies the settings
    (connection pools and TLS contexts are keyed by it), built once.
    """

    protocols: tuple[str, ...] = NGINX_PROXY_SSL_PROTOCOLS
    ciphers: str = "DEFAULT"
    verify: bool = False
    verify_depth: int = 1
    name: str = ""
    server_name: bool = False
    ca_pem: bytes = b""  # trusted CAs (the Secret's ca.crt)
    cert_pem: bytes = b""  # client certificate chain and key (tls.crt, tls.key)
    key_pem: bytes = b""
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(repr((
            self.protocols, self.ciphers, self.verify, self.verify_depth, self.name,
            self.server_name,
        )).encode())
        for pem in (self.ca_pem, self.cert_pem, self.key_pem):
            digest.update(b"\0" + pem)
        object.__setattr__(self, "key", digest.hexdigest())


# proxy-next-upstream conditions (nginx's proxy_next_upstream).
RETRY_CONDITIONS = frozenset((
    "error", "timeout", "invalid_header", "http_500", "http_502", "http_503", "http_504",
    "http_403", "http_404", "http_429", "non_idempotent",
))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a failed try goes on to another endpoint (nginx's proxy_next_upstream*).

    `conditions` are nginx's names ("error", "timeout", "http_502", ...,
    "non_idempotent"); empty means `off`. `tries` counts the first try too,
    0 is unlimited; `timeout` (s) bounds the time spent retrying, 0 is
    unlimited. `statuses` are the response codes among the conditions.
    """

    conditions: frozenset[str] = frozenset(("error", "timeout"))
    tries: int = 3
    timeout: float = 0.0
    statuses: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        statuses = frozenset(int(c[5:]) for c in self.conditions if c.startswith("http_"))
        object.__setattr__(self, "statuses", statuses)

    @property
    def non_idempotent(self) -> bool:
        return "non_idempotent" in self.conditions


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class Buffering:
    """nginx's request and response buffering for a route.

    With `request` on, the whole request body is read before an endpoint is
    chosen: up to `body_in_memory` bytes in memory, the rest in a temporary
    file. With `response` on, a response is read from the pod as fast as it
    sends it even when the client is slower: `buffers` of `buffer_size`
    bytes in memory, then a temporary file of at most `max_temp_file`
    bytes (0: none). `buffer_size` also bounds the response head.
    """

    request: bool = False
    body_in_memory: int = 8 << 10
    response: bool = False
    buffer_size: int = 4 << 10
    buffers: int = 4
    max_temp_file: int = 1 << 30
