"""External authentication: auth-url and the auth-* annotations that shape its subrequest.

As ingress-nginx reads them (internal/ingress/annotations/authreq,
buildAuthSignURL in its template). What cannot be set up safely (a bad
auth-url, method, response header list or cache duration) answers 503 on
the Ingress's routes, never unauthenticated; a bad auth-signin or
redirect parameter is reported and left out, as ingress-nginx leaves it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model.filters.extauth import (
    VARIABLE_PREFIXES,
    VARIABLES,
    CacheRule,
    ExternalAuth,
    Template,
)

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS",
                      "TRACE"))
_HEADER = re.compile(r"[A-Za-z0-9\-_]+")
_STATUS = re.compile(r"\d{3}")
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800,
          "M": 2592000, "y": 31536000}
DEFAULT_CACHE_DURATION = "200 202 401 5m"
DEFAULT_REDIRECT_PARAM = "rd"
# nginx's proxy_cache_valid with a time alone caches these.
_PLAIN_CACHE_STATUSES = (200, 301, 302)


def template(value: str) -> Template:
    """Text with nginx variables; an unknown variable is an InvalidValue."""
    if any(c in value for c in "\r\n\0"):
        raise values.InvalidValue("must be one line")
    parts: list[str] = []
    at = 0
    for match in _VARIABLE.finditer(value):
        name = match[1] or match[2]
        if name not in VARIABLES and not name.startswith(VARIABLE_PREFIXES):
            raise values.InvalidValue(f"uses ${name}, a variable Portico does not know "
                                      f"(known: ${', $'.join(sorted(VARIABLES))}, "
                                      "$http_*, $cookie_*, $arg_*)")
        parts += (value[at:match.start()], name.lower())
        at = match.end()
    parts.append(value[at:])
    return Template(tuple(parts))


def auth_url(value: str) -> Template:
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise values.InvalidValue(f"must be an http(s) URL, not {value!r}")
    host = parts.hostname or ""
    if not host or ".." in host or host.startswith(".") or host.endswith("."):
        raise values.InvalidValue(f"{value!r} has an invalid URL host")
    return template(text)


def signin_url(value: str, redirect_param: str) -> Template:
    """auth-signin with the original URL added as `redirect_param`, as ingress-nginx does,
    unless the URL already passes it."""
    text = value.strip()
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc:
        raise values.InvalidValue(f"must be an absolute URL, not {value!r}")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if not query.get(redirect_param):
        original = "$pass_access_scheme://$http_host$escaped_request_uri"
        text += ("&" if query else "?") + f"{redirect_param}={original}"
    return template(text)


def method(value: str) -> str:
    if value not in _METHODS:
        raise values.InvalidValue(f"must be an HTTP method ({', '.join(sorted(_METHODS))}), "
                                  f"not {value!r}")
    return value


def header_names(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    bad = [name for name in names if not _HEADER.fullmatch(name)]
    if bad:
        raise values.InvalidValue(f"{', '.join(map(repr, bad))} are not header names")
    return names


def redirect_param(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.~-]+", value):
        raise values.InvalidValue(f"must be a query parameter name, not {value!r}")
    return value


def cache_rules(value: str) -> tuple[CacheRule, ...]:
    """auth-cache-duration: comma-separated `[code ...] time`, e.g. `200 202 10m, 401 1m`."""
    if not value.strip():
        value = DEFAULT_CACHE_DURATION
    rules: list[CacheRule] = []
    for item in value.split(","):
        words = item.split()
        if not words:
            continue
        duration = _DURATION.fullmatch(words[-1])
        codes = words[:-1]
        if duration is None or any(c != "any" and not _STATUS.fullmatch(c) for c in codes):
            raise values.InvalidValue(f"{item.strip()!r} is not 'code ... time' like "
                                      "'200 202 10m' or 'any 1m'")
        seconds = int(duration[1]) * _UNITS[duration[2]]
        statuses = [None if c == "any" else int(c) for c in codes] or _PLAIN_CACHE_STATUSES
        rules += (CacheRule(status, seconds) for status in statuses)
    if not rules:
        raise values.InvalidValue("names no duration")
    return tuple(rules)


def _positive(value: str) -> int:
    number = values.integer(value)
    if number <= 0:
        raise values.InvalidValue(f"must be more than 0, not {value!r}")
    return number


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    if "auth-url" not in annotations.values:
        _global_auth(annotations, spec)
        return
    auth = _external_auth(annotations)
    if auth is None:
        spec.denied = True  # reported
    else:
        spec.filters.append(auth)


def _global_auth(annotations: Annotations, spec: RouteSpec) -> None:
    """The controller ConfigMap's global-auth-url, unless enable-global-auth is false."""
    config = annotations.lookups.config
    enabled = annotations.parsed("enable-global-auth", values.boolean)
    if enabled is False:
        return
    if config.global_auth_denied:
        annotations.report("enable-global-auth", "the controller ConfigMap's global-auth-url "
                           "cannot be used: the routes answer 503 (enable-global-auth: false "
                           "opts out)")
        spec.denied = True
    elif config.global_auth is not None:
        spec.filters.append(config.global_auth)


def _proxy_set_headers(value: str, annotations: Annotations) -> tuple[tuple[str, Template], ...]:
    """auth-proxy-set-headers: the ConfigMap `value` names, its entries as headers."""
    reference = values.object_reference(value)
    namespace, _, name = reference.rpartition("/")
    own = annotations.obj.namespace
    lookups = annotations.lookups
    if namespace and namespace != own and not lookups.config.cross_namespace:
        raise values.InvalidValue(f"names a ConfigMap of namespace {namespace!r} "
                                  "(allow-cross-namespace-resources is off)")
    key = (namespace or own, name)
    lookups.referenced_config_maps.add(key)
    body = lookups.config_maps.get(key)
    if body is None:
        raise values.InvalidValue(f"ConfigMap {key[0]}/{key[1]} not found")
    data = body.get("data")
    headers = []
    for header, text in sorted((data if isinstance(data, dict) else {}).items()):
        if not _HEADER.fullmatch(header) or not isinstance(text, str):
            raise values.InvalidValue(f"ConfigMap {key[0]}/{key[1]}: {header!r} is not a "
                                      "header name with a text value")
        headers.append((header, template(text)))
    return tuple(headers)


def _external_auth(annotations: Annotations) -> ExternalAuth | None:
    url = annotations.parsed("auth-url", auth_url)
    verb = annotations.parsed("auth-method", method)
    response_headers = annotations.parsed("auth-response-headers", header_names)
    request_redirect = annotations.parsed("auth-request-redirect", template)
    set_headers = annotations.parsed(
        "auth-proxy-set-headers", lambda value: _proxy_set_headers(value, annotations))
    cache_key = annotations.parsed("auth-cache-key", template)
    rules = annotations.parsed("auth-cache-duration", cache_rules)
    always = annotations.parsed("auth-always-set-cookie", values.boolean)
    keepalive = annotations.parsed("auth-keepalive", values.integer)
    requests = annotations.parsed("auth-keepalive-requests", _positive)
    timeout = annotations.parsed("auth-keepalive-timeout", _positive)
    annotations.parsed("auth-keepalive-share-vars", values.boolean)
    # Left out when bad, as in ingress-nginx; the rest of the set-up still applies.
    param = annotations.parsed("auth-signin-redirect-param", redirect_param)
    signin = annotations.parsed(
        "auth-signin", lambda value: signin_url(value, param or DEFAULT_REDIRECT_PARAM))
    if url is None or any(annotations.invalid(name) for name in (
            "auth-method", "auth-response-headers", "auth-request-redirect", "auth-cache-key",
            "auth-cache-duration", "auth-always-set-cookie", "auth-proxy-set-headers")):
        return None
    return ExternalAuth(
        url=url,
        method=verb,
        signin=signin,
        response_headers=response_headers or (),
        request_redirect=request_redirect,
        proxy_set_headers=set_headers or (),
        cache_key=cache_key,
        cache_rules=(rules or cache_rules(DEFAULT_CACHE_DURATION)) if cache_key else (),
        always_set_cookie=bool(always),
        keepalive=max(keepalive, 0) if keepalive is not None else 32,
        keepalive_requests=requests or 1000,
        keepalive_timeout=float(timeout or 60),
    )
