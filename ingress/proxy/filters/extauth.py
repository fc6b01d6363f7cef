"""Runner of external authentication (ingress.model.filters.extauth).

The subrequest carries what ingress-nginx's auth location sends: the
request's own headers (cookies and Authorization included, hop-by-hop
ones, its body and X-Forwarded-Proto left out), the service's host as
Host, and X-Original-URL, X-Original-Method, X-Sent-From, X-Real-IP,
X-Forwarded-For, X-Auth-Request-Redirect, X-Request-ID (and, with
auth-method, X-Original-URI and X-Scheme). Its answer decides:

- 2xx: the request goes on, with the listed auth-response-headers set
  from the answer (or removed when it has none), and the answer's
  Set-Cookie on a successful response (on every one with
  auth-always-set-cookie);
- 401 / 403: refused with that status (a 401 copies the service's
  WWW-Authenticate), or a 302 to auth-signin for a 401;
- anything else, a timeout or an unreachable service: 500.

With auth-cache-key, answers are kept per host, path and rendered key for
auth-cache-duration (as nginx's proxy_cache would: not when the answer
sets a cookie, says no-cache/no-store/private or Vary: *, and its
max-age or X-Accel-Expires win over the configured time).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ingress.model.filters.core import HeaderEdits
from ingress.model.filters.extauth import AuthCookies, CacheRule, ExternalAuth
from ingress.proxy.client_address import forwarded_for
from ingress.proxy.filters.access import PENDING, Denial, Done, Verdict, access_filter
from ingress.proxy.filters.registry import (
    FilterHost,
    FilterServices,
    ResponseHeader,
    response_runner,
)
from ingress.proxy.http import HOP_BY_HOP
from ingress.proxy.subrequests import Answer, Service, SubrequestClient
from ingress.proxy.variables import render

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange

MAX_CACHED = 10_000
# add_header's statuses: where the service's cookies go without auth-always-set-cookie.
COOKIE_STATUSES = frozenset((200, 201, 204, 206, 301, 302, 303, 304, 307, 308))
_NOT_PASSED = HOP_BY_HOP | frozenset((b"host", b"content-length", b"expect",
                                      b"x-forwarded-proto"))
_SET = frozenset((b"x-original-url", b"x-original-method", b"x-sent-from", b"x-real-ip",
                  b"x-forwarded-for", b"x-auth-request-redirect", b"x-request-id",
                  b"x-original-uri", b"x-scheme"))
_MAX_AGE = re.compile(rb"(?:^|[,\s])(?:s-)?max-age=(\d+)")
_NO_STORE = re.compile(rb"no-cache|no-store|private")

CacheKey = tuple[str, str, str, str]


class AuthCache:
    """Answers kept for auth-cache-duration, the most recently used MAX_CACHED of them."""

    def __init__(self, services: FilterServices) -> None:
        self._time = services.loop.time
        self._answers: OrderedDict[CacheKey, tuple[float, Answer]] = OrderedDict()

    def get(self, key: CacheKey) -> Answer | None:
        found = self._answers.get(key)
        if found is None:
            return None
        if found[0] <= self._time():
            del self._answers[key]
            return None
        self._answers.move_to_end(key)
        return found[1]

    def put(self, key: CacheKey, answer: Answer, rules: tuple[CacheRule, ...]) -> None:
        seconds = cache_seconds(answer, rules)
        if seconds > 0:
            self._answers[key] = (self._time() + seconds, answer)
            self._answers.move_to_end(key)
            if len(self._answers) > MAX_CACHED:
                self._answers.popitem(last=False)


def cache_seconds(answer: Answer, rules: tuple[CacheRule, ...]) -> float:
    """How long nginx's proxy_cache would keep `answer` (0: not at all)."""
    if answer.values(b"set-cookie") or b"*" in answer.values(b"vary"):
        return 0.0
    for value in answer.values(b"x-accel-expires"):
        return float(value) if value.isdigit() else 0.0
    control = b",".join(answer.values(b"cache-control")).lower()
    if _NO_STORE.search(control):
        return 0.0
    max_age = _MAX_AGE.search(control)
    if max_age is not None:
        return float(max_age[1])
    for rule in rules:
        if rule.status is None or rule.status == answer.status:
            return rule.seconds
    return 0.0


def _service(url: str, flt: ExternalAuth) -> tuple[Service, bytes, bytes] | None:
    """The service, request target and Host of a rendered auth-url; None if unusable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return None
    tls = parts.scheme == "https"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    service = Service(tls, host, port or (443 if tls else 80), flt.keepalive,
                      flt.keepalive_requests, flt.keepalive_timeout)
    return service, target.encode("latin-1"), host.encode("idna")


def subrequest(host: FilterHost, exchange: Exchange, flt: ExternalAuth, target: bytes,
               service_host: bytes) -> bytes:
    """The request head ingress-nginx's auth location would send for `exchange`."""
    method = (flt.method or "GET").encode()
    set_by_us = [(name.lower().encode("latin-1"), render(value, host, exchange).encode("latin-1"))
                 for name, value in flt.proxy_set_headers]
    dropped = _NOT_PASSED | _SET | {name for name, _ in set_by_us}
    for edit in exchange.header_edits or ():
        dropped |= edit.replaced
    parts = [method, b" ", target, b" HTTP/1.1\r\nhost: ", service_host, b"\r\n"]
    for name, lname, value in exchange.headers:
        if lname not in dropped:
            parts += (name, b": ", value, b"\r\n")
    client = host.client_address.encode("latin-1")
    # As the request to the pod: the full chain with use-forwarded-headers and
    # compute-full-forwarded-for, else the client (ingress-nginx's auth location).
    chain = forwarded_for(exchange.forwarded) if exchange.forwarded else client
    scheme = host.listener.scheme
    http_host = exchange.header(b"host") or b""
    redirect = (exchange.url if flt.request_redirect is None
                else render(flt.request_redirect, host, exchange).encode("latin-1"))
    parts += (b"x-original-url: ", scheme, b"://", http_host, exchange.url, b"\r\n",
              b"x-original-method: ", exchange.method, b"\r\n",
              b"x-sent-from: nginx-ingress-controller\r\n",
              b"x-real-ip: ", client, b"\r\nx-forwarded-for: ", chain, b"\r\n",
              b"x-auth-request-redirect: ", redirect, b"\r\n")
    if exchange.request_id:
        parts += (b"x-request-id: ", exchange.request_id, b"\r\n")
    if flt.method is not None:
        parts += (b"x-original-uri: ", exchange.url, b"\r\nx-scheme: ", scheme, b"\r\n")
    for name, value in set_by_us:
        if value:  # nginx sends no header whose value is empty
            parts += (name, b": ", value, b"\r\n")
    # What the filters before this one set: the ssl-client-* headers of a client certificate.
    for edit in exchange.header_edits or ():
        for name, value in (*edit.set, *edit.add):
            parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def verdict(host: FilterHost, exchange: Exchange, flt: ExternalAuth,
            answer: Answer | None) -> Denial | None:
    """What the service's answer (None: it failed) means for the request."""
    if answer is None:
        return Denial(500, final=True)
    status = answer.status
    cookies = answer.values(b"set-cookie")
    if 200 <= status < 300:
        if flt.response_headers:
            exchange.add_header_edits(_copied(answer, flt.response_headers))
        if cookies:
            exchange.response_filters = (*exchange.response_filters,
                                         AuthCookies(tuple(cookies), flt.always_set_cookie))
        return None
    if status not in (401, 403):
        return Denial(500, final=True)
    cookie_lines = tuple((b"set-cookie", cookie) for cookie in cookies)
    headers = cookie_lines if flt.always_set_cookie else ()
    if status == 401:
        headers += tuple((b"www-authenticate", v) for v in answer.values(b"www-authenticate"))
    signin = render(flt.signin, host, exchange) if flt.signin is not None else None
    return Denial(status, headers, signin, cookie_lines)


def _copied(answer: Answer, names: tuple[str, ...]) -> HeaderEdits:
    """auth-response-headers: each set from the answer, or dropped when it has none."""
    found = []
    for name in names:
        lname = name.lower().encode("latin-1")
        values = answer.values(lname)
        if values:
            found.append((lname, b", ".join(values)))
    return HeaderEdits(set=tuple(found),
                       remove=frozenset(name.lower().encode("latin-1") for name in names))


@access_filter(ExternalAuth)
def external_auth(host: FilterHost, exchange: Exchange, flt: ExternalAuth, done: Done) -> Verdict:
    cache: AuthCache | None = None
    key: CacheKey = ("", "", "", "")
    if flt.cache_key is not None:
        route = exchange.route
        assert route is not None
        key = (route.host, route.path, route.path_type.value,
               render(flt.cache_key, host, exchange))
        cache = host.services.part(AuthCache)
        cached = cache.get(key)
        if cached is not None:
            return verdict(host, exchange, flt, cached)
    found = _service(render(flt.url, host, exchange), flt)
    if found is None:
        return Denial(500, final=True)
    service, target, service_host = found
    data = subrequest(host, exchange, flt, target, service_host)

    def answered(answer: Answer | None) -> None:
        if answer is not None and cache is not None:
            cache.put(key, answer, flt.cache_rules)
        done(verdict(host, exchange, flt, answer))

    settings = host.services.settings
    upstream = exchange.route.upstream if exchange.route is not None else None
    connect = (upstream.connect_timeout if upstream else None) or settings.connect_timeout
    read = (upstream.read_timeout if upstream else None) or settings.upstream_read_timeout
    host.services.part(SubrequestClient).request(service, data, answered, connect, read,
                                           head_only=flt.method == "HEAD")
    return PENDING


@response_runner(AuthCookies)
def auth_cookies(exchange: Exchange, headers: list[ResponseHeader], flt: AuthCookies) -> None:
    if flt.always or exchange.status in COOKIE_STATUSES:
        headers.extend((b"set-cookie", cookie) for cookie in flt.cookies)
