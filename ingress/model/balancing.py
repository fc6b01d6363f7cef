"""How a backend ties requests to endpoints: hash keys and session cookies.

These are ingress-nginx's `upstream-hash-by` and cookie `affinity`: the
backend's `Balancer` says which algorithm runs, these say what it reads
from the request and what cookie it writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HashSource(StrEnum):
    """Where one part of a hash key comes from (nginx's variables)."""

    TEXT = "text"  # `name` is literal text
    REQUEST_URI = "request_uri"  # the request target as received, query included
    REMOTE_ADDR = "remote_addr"  # the client address
    HOST = "host"  # the request's host name (lower case, no port)
    URI = "uri"  # the request path as routes see it
    HEADER = "http"  # `name`: a lower-case header name
    COOKIE = "cookie"  # `name`: a cookie name
    ARG = "arg"  # `name`: a query parameter name (first occurrence, not decoded)


@dataclass(frozen=True, slots=True)
class HashPart:
    source: HashSource
    name: str = ""


@dataclass(frozen=True, slots=True)
class HashKey:
    """`upstream-hash-by`: the parts are concatenated into the consistent-hash key.

    With `subset_size`, the key picks a subset of that many endpoints and a
    request goes to a random member of it (`upstream-hash-by-subset`).
    """

    text: str  # as written, for messages
    parts: tuple[HashPart, ...]
    subset_size: int = 0


@dataclass(frozen=True, slots=True)
class SessionCookie:
    """Cookie `affinity`: the cookie that pins a client to an endpoint, and its attributes."""

    name: str = "INGRESSCOOKIE"
    # persistent: an endpoint keeps its sessions when pods are added;
    # balanced (False): sessions are re-spread over the new set.
    persistent: bool = False
    path: str | None = None  # None: the route's path
    domain: str | None = None
    samesite: str | None = None  # "None", "Lax" or "Strict"
    # Leave out SameSite=None for browsers known to reject it.
    conditional_samesite_none: bool = False
    expires: int | None = None  # seconds from now
    max_age: int | None = None
    # Secure even on plain HTTP (HTTPS requests always get it).
    secure: bool = False
    # After a failed attempt, move the client to another endpoint.
    change_on_failure: bool = False
