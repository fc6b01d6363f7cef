"""Cookie session affinity, as ingress-nginx's sticky balancers do it.

The cookie's value is `<endpoint key>|<backend key>`, computed as
ingress-nginx computes them, so sessions pinned by ingress-nginx stay
pinned after the switch:

- the backend key is md5(md5(name) + name) of ingress-nginx's upstream
  name `namespace-service-port`; a client is "affinitized" to a backend
  when its cookie carries that backend's key (canaries read this);
- balanced mode: the endpoint key is a random string, placed on the
  consistent-hash ring of the endpoints, so scaling moves some sessions;
- persistent mode: the endpoint key is md5(name + "ip:port"), so a
  session stays on its pod as long as the pod exists.

A new endpoint is chosen (and the cookie set) when the cookie names none
of the current endpoints, or after a failed attempt with
`change_on_failure`.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from ingress.model import Backend, Balancer, Endpoint, SessionCookie
from ingress.proxy.cookies import cookie_value
from ingress.proxy.hashing import Ring, endpoint_name

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange

RingOf = Callable[[Backend, tuple[Endpoint, ...]], Ring[Endpoint]]
# ingress-nginx tries this many random keys for one that avoids the failed endpoints.
_NEW_KEY_ATTEMPTS = 20
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def upstream_name(backend: Backend) -> str:
    """ingress-nginx's name for the backend's upstream."""
    return f"{backend.namespace}-{backend.service}-{backend.port}"


def cookie_time(epoch: float) -> str:
    """nginx's cookie date: `Thu, 18-Nov-10 11:27:35 GMT` (4-digit years after 2037)."""
    t = time.gmtime(epoch)
    year = f"{t.tm_year}" if t.tm_year > 2037 else f"{t.tm_year % 100:02d}"
    return (f"{_WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d}-{_MONTHS[t.tm_mon - 1]}-{year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")


def _same_site_none_compatible(user_agent: str) -> bool:
    """False for the browsers that reject SameSite=None (ingress-nginx's list)."""
    if any(marker in user_agent for marker in ("Chrome/5", "Chrome/6", "CPU iPhone OS 12",
                                               "iPad; CPU OS 12")):
        return False
    return not ("Macintosh" in user_agent and "Intel Mac OS X 10_14" in user_agent
                and "Safari" in user_agent and "Chrome" not in user_agent)


class Sticky:
    def __init__(self, ring_of: RingOf, rng: random.Random) -> None:
        self._ring_of = ring_of
        self._random = rng
        self._backend_keys: dict[str, str] = {}
        # backend key → (the endpoints it was built for, endpoint key → endpoint)
        self._persistent: dict[str, tuple[tuple[Endpoint, ...], dict[str, Endpoint]]] = {}

    def backend_key(self, backend: Backend) -> str:
        key = self._backend_keys.get(backend.key)
        if key is None:
            name = upstream_name(backend)
            key = self._backend_keys[backend.key] = _md5(_md5(name) + name)
        return key

    def affinitized(self, backend: Backend, request: Exchange) -> bool:
        """Whether the request's cookie pins it to `backend`."""
        cookie = backend.session_cookie
        if cookie is None:
            return False
        value = cookie_value(request, cookie.name)
        if value is None:
            return False
        parts = value.split("|")
        return len(parts) > 1 and parts[1] == self.backend_key(backend)

    def pick(self, backend: Backend, usable: tuple[Endpoint, ...],
             tried: Collection[tuple[str, int]], request: Exchange) -> Endpoint | None:
        cookie = backend.session_cookie
        assert cookie is not None
        if not usable:
            return None
        value = cookie_value(request, cookie.name)
        pinned = self._find(backend, usable, value.split("|")[0]) if value else None
        if pinned is not None and not (tried and cookie.change_on_failure):
            return pinned
        found = self._new(backend, usable, tried)
        if found is None:
            return None
        endpoint, endpoint_key = found
        self._set_cookie(request, cookie, f"{endpoint_key}|{self.backend_key(backend)}")
        return endpoint

    def _find(self, backend: Backend, usable: tuple[Endpoint, ...],
              endpoint_key: str) -> Endpoint | None:
        if backend.balancer is Balancer.STICKY_PERSISTENT:
            return self._persistent_map(backend, usable).get(endpoint_key)
        return self._ring_of(backend, usable).find(endpoint_key)

    def _new(self, backend: Backend, usable: tuple[Endpoint, ...],
             tried: Collection[tuple[str, int]]) -> tuple[Endpoint, str] | None:
        if backend.balancer is Balancer.STICKY_PERSISTENT:
            choices = [(key, e) for key, e in self._persistent_map(backend, usable).items()
                       if e.address not in tried]
            if not choices:
                return None
            key, endpoint = self._random.choice(choices)
            return endpoint, key
        ring = self._ring_of(backend, usable)
        for attempt in range(1, _NEW_KEY_ATTEMPTS + 1):
            key = f"{time.time() + attempt:.3f}.{os.getpid()}.{self._random.randint(1, 999999)}"
            candidate = ring.find(key)
            if candidate.address not in tried:
                return candidate, key
        return None

    def _persistent_map(self, backend: Backend,
                        endpoints: tuple[Endpoint, ...]) -> dict[str, Endpoint]:
        cached = self._persistent.get(backend.key)
        if cached is not None and (cached[0] is endpoints or cached[0] == endpoints):
            return cached[1]
        salt = upstream_name(backend)
        by_key = {_md5(salt + endpoint_name(e)): e for e in endpoints}
        self._persistent[backend.key] = (endpoints, by_key)
        return by_key

    def _set_cookie(self, request: Exchange, cookie: SessionCookie, value: str) -> None:
        route = request.route
        samesite = cookie.samesite
        if (samesite == "None" and cookie.conditional_samesite_none
                and not _same_site_none_compatible(
                    (request.header(b"user-agent") or b"").decode("latin-1"))):
            samesite = None
        attributes = [f"{cookie.name}={value}"]
        if cookie.expires is not None:
            attributes.append(f"Expires={cookie_time(time.time() + cookie.expires)}")
        if cookie.max_age is not None:
            attributes.append(f"Max-Age={cookie.max_age}")
        if cookie.domain:
            attributes.append(f"Domain={cookie.domain}")
        attributes.append(f"Path={cookie.path or (route.path if route is not None else '/')}")
        if cookie.secure or request.conn.listener.tls:
            attributes.append("Secure")
        attributes.append("HttpOnly")
        if samesite:
            attributes.append(f"SameSite={samesite}")
        line = "; ".join(attributes).encode("latin-1")
        request.response_headers += b"set-cookie: " + line + b"\r\n"

    def forget(self, keep: Collection[str]) -> None:
        """Drop what is cached for backends that left the table."""
        for cache in (self._backend_keys, self._persistent):
            for key in [k for k in cache if k not in keep]:
                del cache[key]
