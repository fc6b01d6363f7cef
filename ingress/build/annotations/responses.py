"""What the client gets back: custom-headers, proxy-cookie-domain/-path, proxy-redirect-from/-to.

custom-headers names a ConfigMap whose entries are set on every response;
as in ingress-nginx each header must be in the controller ConfigMap's
`global-allowed-response-headers`, and a missing ConfigMap or a header
not allowed makes the route answer 503 (ingress-nginx's "location
denied"). The cookie and redirect rewrites follow nginx's directives of
the same names; their ConfigMap keys set the default that an annotation
replaces.
"""

from __future__ import annotations

import re

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.build.fields import FieldError, mapping
from ingress.model import compile_regex
from ingress.model.filters.base import ResponseFilter
from ingress.model.filters.core import DirectResponse, HeaderEdits, ResponseHeaders
from ingress.model.filters.responses import (
    CookieDomain,
    CookiePath,
    RedirectLocation,
    Replacement,
)

# ingress-nginx's validators for these annotations.
_DOMAIN = r"[-._~a-zA-Z0-9/:]+"
_COOKIE_DOMAIN = re.compile(rf"off|{_DOMAIN}\s+{_DOMAIN}")
_URL_CHARS = re.compile(r"[-._~a-zA-Z0-9/:,?&=]*")
_HEADER_VALUE = re.compile(r"[a-zA-Z\d_ :;.,\\/\"'?!(){}\[\]@<>=\-+*#$&`|~^%]+")
_OBJECT_REFERENCE = re.compile(r"([a-z0-9][-a-z0-9.]*/)?[a-z0-9][-a-z0-9.]*")


def _replacement(match: str, replacement: str, case_insensitive: bool) -> Replacement:
    """A plain rule, or (written `~pattern`, `~*pattern`) a regular expression."""
    if not match.startswith("~"):
        return Replacement(match, replacement)
    pattern, insensitive = match[1:], case_insensitive
    if pattern.startswith("*"):
        pattern, insensitive = pattern[1:], True
    try:
        return Replacement(pattern, replacement, compile_regex(pattern, insensitive))
    except ValueError as error:
        raise values.InvalidValue(str(error)) from None


def cookie_domain(value: str) -> CookieDomain | None:
    """`off`, or `DOMAIN REPLACEMENT` (nginx's proxy_cookie_domain)."""
    text = value.strip()
    if not _COOKIE_DOMAIN.fullmatch(text):
        raise values.InvalidValue(f"must be off or 'DOMAIN REPLACEMENT', not {value!r}")
    if text == "off":
        return None
    domain, replacement = text.split()
    rule = _replacement(domain.lower(), replacement.removeprefix("."), True)
    if rule.regex is None:
        rule = Replacement(rule.match.removeprefix("."), rule.replacement)
    return CookieDomain(rule)


def cookie_path(value: str) -> CookiePath | None:
    """`off`, or `PATH REPLACEMENT` (nginx's proxy_cookie_path)."""
    parts = value.split()
    if parts == ["off"]:
        return None
    if len(parts) != 2 or not all(_URL_CHARS.fullmatch(p) for p in parts):
        raise values.InvalidValue(f"must be off or 'PATH REPLACEMENT', not {value!r}")
    return CookiePath(_replacement(parts[0], parts[1], False))


def url_text(value: str) -> str:
    text = value.replace(" ", "")
    if not text or not _URL_CHARS.fullmatch(text):
        raise values.InvalidValue(f"must be a URL or path without spaces, not {value!r}")
    return text


def redirect_location(source: str, target: str) -> RedirectLocation | None:
    """ingress-nginx writes proxy_redirect FROM TO only when neither is off (or default)."""
    if source in ("off", "default") or target == "off":
        return None
    return RedirectLocation(_replacement(source, target, False))


def object_reference(value: str) -> tuple[str, str]:
    """`namespace/name` or `name` → (namespace or '', name)."""
    text = value.strip()
    if not _OBJECT_REFERENCE.fullmatch(text):
        raise values.InvalidValue(f"must be NAMESPACE/NAME or NAME, not {value!r}")
    namespace, _, name = text.rpartition("/")
    return namespace, name


def _replace(spec: RouteSpec, kind: type[ResponseFilter], new: ResponseFilter | None) -> None:
    """An annotation replaces the ConfigMap's default filter of the same kind."""
    spec.response_filters = [f for f in spec.response_filters if not isinstance(f, kind)]
    if new is not None:
        spec.response_filters.append(new)


def _custom_headers(
    annotations: Annotations, spec: RouteSpec, reference: tuple[str, str]
) -> None:
    name = "custom-headers"
    namespace, config_map = reference
    namespace = namespace or annotations.obj.namespace
    lookups = annotations.lookups
    if namespace != annotations.obj.namespace and not lookups.config.cross_namespace:
        annotations.report(name, f"ConfigMap {namespace}/{config_map} is in another namespace "
                                 "(allow-cross-namespace-resources is off); the route answers 503")
        spec.filters.append(DirectResponse(503))
        return
    lookups.referenced_config_maps.add((namespace, config_map))
    body = lookups.config_maps.get((namespace, config_map))
    problem = None
    headers: list[tuple[bytes, bytes]] = []
    if body is None:
        problem = f"ConfigMap {namespace}/{config_map} not found"
    else:
        try:
            data = mapping(body.get("data"), "data")
        except FieldError as error:
            data, problem = {}, str(error)
        allowed = lookups.config.allowed_response_headers
        for header, value in sorted(data.items()):
            if not values.header_name(header) or not isinstance(value, str) or \
                    not _HEADER_VALUE.fullmatch(value):
                problem = f"ConfigMap {namespace}/{config_map}: invalid header {header!r}"
            elif header not in allowed:
                problem = (f"ConfigMap {namespace}/{config_map}: header {header} is not in "
                           "the controller ConfigMap's global-allowed-response-headers")
            else:
                headers.append((header.lower().encode(), value.encode("latin-1")))
    if problem is not None:
        annotations.report(name, f"{problem}; the route answers 503")
        spec.filters.append(DirectResponse(503))
    elif headers:
        spec.response_filters.append(ResponseHeaders(HeaderEdits(set=tuple(headers))))


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    reference = annotations.parsed("custom-headers", object_reference)
    if reference is not None:
        _custom_headers(annotations, spec, reference)
    # A bad value keeps the ConfigMap's default, as in ingress-nginx: hence the 1-tuples.
    domain = annotations.parsed("proxy-cookie-domain", lambda v: (cookie_domain(v),))
    if domain is not None:
        _replace(spec, CookieDomain, domain[0])
    path = annotations.parsed("proxy-cookie-path", lambda v: (cookie_path(v),))
    if path is not None:
        _replace(spec, CookiePath, path[0])
    source = annotations.parsed("proxy-redirect-from", url_text)
    target = annotations.parsed("proxy-redirect-to", url_text)
    if source is not None or target is not None:
        config = annotations.lookups.config
        _replace(spec, RedirectLocation, redirect_location(source or config.redirect_from,
                                                          target or config.redirect_to))
