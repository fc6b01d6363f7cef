"""HTTPRoute rule filters → model filters.

Header modifiers and mirrors are final as parsed. A redirect and a path
rewrite depend on the match (ReplacePrefixMatch replaces what a PathPrefix
matched) and a redirect on the listener too (its scheme and port), so
those are kept as specs and finished per match and listener. Filters
Portico does not implement make the rule answer 500, never pass silently.
A RequestMirror whose backendRef cannot be resolved mirrors nothing (the
route's ResolvedRefs condition says why); the rule itself still serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ingress.build.fields import (
    FieldError,
    mapping,
    optional_str,
    port_number,
    required_str,
    sequence,
)
from ingress.build.gateway.backends import BackendRefs
from ingress.build.gateway.hostnames import parse_precise_hostname
from ingress.build.gateway.matches import REASON, MatchSpec, header_name
from ingress.model import PathType
from ingress.model.filters.base import Filter, ResponseFilter
from ingress.model.filters.core import HeaderEdits, RequestHeaders, ResponseHeaders
from ingress.model.filters.gateway import (
    PathModifier,
    ReplaceFullPath,
    ReplacePrefixMatch,
    RequestRedirect,
    URLRewrite,
)
from ingress.model.filters.mirror import Mirror

_REDIRECT_CODES = (301, 302, 303, 307, 308)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class PathSpec:
    full: bool  # ReplaceFullPath, else ReplacePrefixMatch
    value: str

    def modifier(self, match: MatchSpec) -> PathModifier:
        if self.full:
            return ReplaceFullPath(self.value)
        return ReplacePrefixMatch(match.path, self.value)


@dataclass(frozen=True, slots=True)
class RedirectSpec:
    status: int
    scheme: str | None
    hostname: str | None
    port: int | None
    path: PathSpec | None

    def filter(self, match: MatchSpec, listener_scheme: str, listener_port: int) -> Filter:
        """The redirect of a request that came in on this listener (the spec's port rules)."""
        scheme = self.scheme or listener_scheme
        port = self.port
        if port is None and self.scheme is None:
            port = listener_port
        if port == _DEFAULT_PORTS.get(scheme):
            port = None
        path = self.path.modifier(match) if self.path is not None else None
        return RequestRedirect(self.status, scheme, self.hostname, port, path)


@dataclass(slots=True)
class RuleFilters:
    request: list[Filter] = field(default_factory=list)
    response: list[ResponseFilter] = field(default_factory=list)
    redirect: RedirectSpec | None = None
    rewrite_path: PathSpec | None = None
    rewrite_host: str | None = None
    # (field, why) the rule answers 500 instead: a filter Portico does not implement.
    unsupported: tuple[str, str] | None = None

    def path_specs(self) -> list[PathSpec]:
        specs = [self.rewrite_path, self.redirect.path if self.redirect else None]
        return [spec for spec in specs if spec is not None]

    def check(self, matches: list[MatchSpec], at: str) -> None:
        """Combinations the spec forbids (and the API server's validation rejects)."""
        if self.redirect is not None and (self.rewrite_path or self.rewrite_host):
            raise FieldError(f"{at}.filters", "RequestRedirect and URLRewrite cannot be combined",
                             "IncompatibleFilters")
        prefix_only = any(not spec.full for spec in self.path_specs())
        if prefix_only and any(m.path_type is not PathType.PREFIX for m in matches):
            raise FieldError(f"{at}.filters", "ReplacePrefixMatch needs PathPrefix matches",
                             REASON)


def _edits(raw: Any, at: str) -> HeaderEdits:
    modifier = mapping(raw, at)

    def pairs(key: str) -> tuple[tuple[bytes, bytes], ...]:
        found = []
        for i, raw_header in enumerate(sequence(modifier.get(key), f"{at}.{key}")):
            where = f"{at}.{key}[{i}]"
            header = mapping(raw_header, where)
            name = header_name(header.get("name"), f"{where}.name")
            value = optional_str(header.get("value"), f"{where}.value")
            if any(c in value for c in "\r\n\0"):
                raise FieldError(f"{where}.value", "must not contain CR, LF or NUL", REASON)
            found.append((name, value.encode("latin-1", "replace")))
        return tuple(found)

    remove = frozenset(header_name(name, f"{at}.remove[{i}]")
                       for i, name in enumerate(sequence(modifier.get("remove"), f"{at}.remove")))
    return HeaderEdits(set=pairs("set"), add=pairs("add"), remove=remove)


def _path_spec(raw: Any, at: str) -> PathSpec | None:
    if raw is None:
        return None
    path = mapping(raw, at)
    kind = required_str(path.get("type"), f"{at}.type")
    if kind == "ReplaceFullPath":
        return PathSpec(True, required_str(path.get("replaceFullPath"), f"{at}.replaceFullPath"))
    if kind == "ReplacePrefixMatch":
        return PathSpec(False, optional_str(path.get("replacePrefixMatch"),
                                            f"{at}.replacePrefixMatch"))
    raise FieldError(f"{at}.type", f"{kind!r} is not ReplaceFullPath or ReplacePrefixMatch",
                     REASON)


def _redirect(raw: Any, at: str) -> RedirectSpec:
    redirect = mapping(raw, at)
    scheme = optional_str(redirect.get("scheme"), f"{at}.scheme") or None
    if scheme not in (None, "http", "https"):
        raise FieldError(f"{at}.scheme", f"{scheme!r} is not http or https", REASON)
    status = redirect.get("statusCode", 302)
    if status not in _REDIRECT_CODES:
        raise FieldError(f"{at}.statusCode", f"{status!r} is not one of "
                         f"{', '.join(map(str, _REDIRECT_CODES))}", REASON)
    hostname = optional_str(redirect.get("hostname"), f"{at}.hostname")
    port = redirect.get("port")
    return RedirectSpec(
        status,
        scheme,
        parse_precise_hostname(hostname, f"{at}.hostname"),
        port_number(port, f"{at}.port") if port is not None else None,
        _path_spec(redirect.get("path"), f"{at}.path"),
    )


def _share(raw: Any, at: str) -> float:
    """The share of requests a RequestMirror copies: its percent or fraction (all: 1.0)."""
    mirror = mapping(raw, at)
    percent, fraction = mirror.get("percent"), mirror.get("fraction")
    if percent is not None and fraction is not None:
        raise FieldError(at, "percent and fraction cannot both be set", REASON)
    if percent is not None:
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise FieldError(f"{at}.percent", f"must be 0-100, not {percent!r}", REASON)
        return percent / 100
    if fraction is None:
        return 1.0
    parts = mapping(fraction, f"{at}.fraction")
    numerator, denominator = parts.get("numerator"), parts.get("denominator", 100)
    for name, value in (("numerator", numerator), ("denominator", denominator)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FieldError(f"{at}.fraction.{name}", f"must be a whole number, not {value!r}",
                             REASON)
    assert isinstance(numerator, int) and isinstance(denominator, int)
    if denominator == 0 or numerator > denominator:
        raise FieldError(f"{at}.fraction", "needs 0 <= numerator <= denominator, "
                         "denominator > 0", REASON)
    return numerator / denominator


def _mirror(raw: Any, at: str, refs: BackendRefs) -> Mirror | None:
    share = _share(raw, at)
    backend = refs.resolve(mapping(raw, at).get("backendRef"), f"{at}.backendRef").backend
    return Mirror(backend=backend, ratio=share) if backend is not None else None


def parse_filters(raw: Any, at: str, refs: BackendRefs) -> RuleFilters:
    """The filters of one rule (or of its only backendRef), in the order given."""
    result = RuleFilters()
    for i, raw_filter in enumerate(sequence(raw, at)):
        where = f"{at}[{i}]"
        entry: Mapping[str, Any] = mapping(raw_filter, where)
        kind = optional_str(entry.get("type"), f"{where}.type")
        if kind == "RequestHeaderModifier":
            edits = _edits(entry.get("requestHeaderModifier"), f"{where}.requestHeaderModifier")
            if b"host" in {name for name, _ in (*edits.set, *edits.add)} | edits.remove:
                raise FieldError(f"{where}.requestHeaderModifier", "the Host header is changed "
                                 "with a URLRewrite filter's hostname", REASON)
            result.request.append(RequestHeaders(edits))
        elif kind == "ResponseHeaderModifier":
            result.response.append(ResponseHeaders(
                _edits(entry.get("responseHeaderModifier"), f"{where}.responseHeaderModifier")))
        elif kind == "RequestRedirect":
            result.redirect = _redirect(entry.get("requestRedirect"), f"{where}.requestRedirect")
        elif kind == "URLRewrite":
            rewrite = mapping(entry.get("urlRewrite"), f"{where}.urlRewrite")
            hostname = optional_str(rewrite.get("hostname"), f"{where}.urlRewrite.hostname")
            result.rewrite_host = parse_precise_hostname(hostname,
                                                         f"{where}.urlRewrite.hostname")
            result.rewrite_path = _path_spec(rewrite.get("path"), f"{where}.urlRewrite.path")
        elif kind == "RequestMirror":
            mirror = _mirror(entry.get("requestMirror"), f"{where}.requestMirror", refs)
            if mirror is not None:
                result.request.append(mirror)
        elif result.unsupported is None:
            result.unsupported = (f"{where}.type", f"filter type {kind!r} is not supported by "
                                  "Portico")
    return result


def rule_filters(filters: RuleFilters, match: MatchSpec, scheme: str,
                 port: int) -> tuple[list[Filter], list[ResponseFilter]]:
    """The request and response filters of one match of a rule on one listener."""
    request = list(filters.request)
    if filters.redirect is not None:
        request.append(filters.redirect.filter(match, scheme, port))
    if filters.rewrite_path is not None:
        request.append(URLRewrite(filters.rewrite_path.modifier(match)))
    return request, list(filters.response)
