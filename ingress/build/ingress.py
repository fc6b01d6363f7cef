"""One Ingress → what it asks for: routes, a default backend, TLS hosts.

Conflicts between Ingresses are not decided here (the builder does that,
oldest first); this module only reads one object and reports what is wrong
with it, skipping the smallest broken part (a path, a rule, a TLS entry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingress.build.annotations import Lookups, RouteSpec, parse_annotations
from ingress.build.backends import BackendOptions, BackendResolver
from ingress.build.fields import FieldError, mapping, optional_str, sequence
from ingress.build.hosts import parse_host, www_twin
from ingress.build.noauth import skips_auth, without_auth
from ingress.build.paths import check_strict, checked_path, location_key
from ingress.model import (
    Backend,
    Canary,
    ErrorPages,
    ObjectRef,
    PathType,
    Problem,
    Regex,
    Route,
    ServerTls,
    SslRedirect,
    compile_regex,
)
from ingress.model.filters.base import Filter, in_phase_order
from ingress.model.filters.core import AppRoot, DirectResponse
from ingress.model.filters.routing import HostRedirect
from ingress.store import Key

# Routes that only redirect: the redirect comes before any HTTPS redirect, as in nginx.
_NO_SSL_REDIRECT = SslRedirect(enabled=False)


@dataclass(frozen=True, slots=True)
class PathClaim:
    """A route and the field that asked for it (named in conflicts)."""

    field: str
    key: str  # paths.location_key: equal keys on one host are one location
    route: Route
    # A rewrite or use-regex: ingress-nginx then matches every path of the host as a regex.
    enforces_regex: bool = False
    regex: Regex | None = None  # the path of a use-regex Ingress, compiled


@dataclass(frozen=True, slots=True)
class CanaryClaim:
    """A canary Ingress's path: a backend for the route another Ingress has there."""

    field: str
    host: str
    key: str
    path: str
    path_type: PathType
    canary: Canary
    # affinity-canary-behavior sticky: the canary uses its mainline's session cookie.
    sticky: bool


@dataclass(frozen=True, slots=True)
class TLSClaim:
    field: str  # spec.tls[i]
    hosts: tuple[tuple[str, str], ...]  # (field, host); empty: the rule hosts the cert covers
    secret: Key | None  # None: no secretName, the default certificate serves


@dataclass(slots=True)
class IngressRequest:
    ref: ObjectRef
    paths: list[PathClaim] = field(default_factory=list)
    default_backend: Route | None = None
    tls: list[TLSClaim] = field(default_factory=list)
    rule_hosts: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # A canary Ingress asks for no route of its own, only these additions.
    canary: bool = False
    canaries: list[CanaryClaim] = field(default_factory=list)
    default_canary: Canary | None = None
    # Host-wide settings, by host: app-root's "/" route, server-alias names,
    # and from-to-www's route on the other name (keyed by that name).
    app_roots: dict[str, Route] = field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    www_redirects: dict[str, Route] = field(default_factory=dict)
    # TLS settings for every host this Ingress routes (ssl-ciphers...), and whether their
    # TLS connections go unopened to the pods (ssl-passthrough).
    server_tls: ServerTls | None = None
    ssl_passthrough: bool = False


# The filters of a route whose Ingress asks for a guard that cannot be set up.
DENIED = (DirectResponse(503),)


def _secret_key(namespace: str, secret_name: str) -> Key:
    # Always the Ingress's own namespace: a tenant must not serve another's certificate.
    return (namespace, secret_name)


def _error_pages(wanted: RouteSpec, lookups: Lookups) -> ErrorPages | None:
    """default-backend answers the error codes and what the route's Service cannot;
    without it, the controller's default backend answers the codes."""
    own = wanted.error_backend
    backend = own or lookups.default_backend
    if backend is None or not (wanted.error_codes or own is not None):
        return None
    return ErrorPages(backend, wanted.error_codes, when_unavailable=own is not None)


class _IngressParser:
    def __init__(self, key: Key, body: Mapping[str, Any], resolver: BackendResolver,
                 lookups: Lookups) -> None:
        self.namespace = key[0]
        self.body = body
        self.resolver = resolver
        self.lookups = lookups
        self.request = IngressRequest(ObjectRef("Ingress", *key))

    def parse(self) -> IngressRequest:
        request = self.request
        metadata = mapping(self.body.get("metadata"), "metadata")
        wanted = parse_annotations(
            mapping(metadata.get("annotations"), "metadata.annotations"), request.ref,
            self.lookups,
        )
        request.problems.extend(wanted.problems)
        request.canary = wanted.canary is not None
        request.server_tls = wanted.server_tls
        request.ssl_passthrough = wanted.ssl_passthrough
        self.wanted: RouteSpec = wanted
        self.options = BackendOptions(wanted.balancer, wanted.protocol, wanted.tls,
                                      wanted.service_upstream)
        errors = _error_pages(wanted, self.lookups)
        self.errors_when_unavailable = errors is not None and errors.when_unavailable
        # The parts every route of this Ingress shares, built once.
        self.route_settings: dict[str, Any] = {
            "response_filters": () if wanted.denied else tuple(wanted.response_filters),
            "upstream": wanted.upstream,
            "ssl_redirect": wanted.ssl_redirect,
            "errors": errors,
            "access_log": wanted.access_log,
            "tracing": wanted.tracing,
        }
        self.filters = DENIED if wanted.denied else in_phase_order(wanted.filters)
        rewritten: list[Filter] = [*wanted.filters, wanted.rewrite] if wanted.rewrite else []
        self.rewritten_filters = DENIED if wanted.denied else in_phase_order(rewritten)
        spec = mapping(self.body.get("spec"), "spec")
        if spec.get("defaultBackend") is not None:
            self._guard(self._default_backend, spec["defaultBackend"])
        for i, rule in enumerate(sequence(spec.get("rules"), "spec.rules")):
            self._guard(self._rule, i, rule)
        if request.canary:  # a canary serves no host, so it has no certificate to give
            return request
        for i, tls in enumerate(sequence(spec.get("tls"), "spec.tls")):
            self._guard(self._tls, i, tls)
        return request

    def _guard(self, parse: Callable[..., None], *args: Any) -> None:
        try:
            parse(*args)
        except FieldError as error:
            self.request.problems.append(error.problem(self.request.ref))

    def _backend(self, raw: Any, at: str) -> Backend:
        """The route's backend; with default-backend, an empty one for a missing Service."""
        wanted = self.wanted
        # A sticky canary takes its mainline's session cookie when it is merged.
        own_cookie = wanted.canary is None or not wanted.sticky_canary
        try:
            return self.resolver.resolve(self.namespace, raw, at, wanted.balancer,
                                         wanted.hash_key,
                                         wanted.session_cookie if own_cookie else None,
                                         self.options)
        except FieldError as error:
            if error.reason != "ServiceNotFound" or not self.errors_when_unavailable:
                raise
            self.request.problems.append(error.problem(self.request.ref))
            return self.resolver.placeholder(self.namespace, raw, at)

    def _default_backend(self, raw: Any) -> None:
        backend = self._backend(raw, "spec.defaultBackend")
        if self.wanted.canary is not None:
            self.request.default_canary = Canary(backend, self.wanted.canary)
            return
        # ingress-nginx leaves rewrites out of the catch-all location.
        self.request.default_backend = Route(
            "/", PathType.PREFIX, backend, self.request.ref, "", filters=self.filters,
            **self.route_settings
        )

    def _rule(self, i: int, raw: Any) -> None:
        at = f"spec.rules[{i}]"
        rule = mapping(raw, at)
        host = parse_host(optional_str(rule.get("host"), f"{at}.host"), f"{at}.host")
        http = mapping(rule.get("http"), f"{at}.http")
        if host and not self.request.canary:
            self.request.rule_hosts.append(host)
        for j, path in enumerate(sequence(http.get("paths"), f"{at}.http.paths")):
            self._guard(self._path, host, f"{at}.http.paths[{j}]", path)

    def _path(self, host: str, at: str, raw: Any) -> None:
        entry = mapping(raw, at)
        raw_type = optional_str(entry.get("pathType"), f"{at}.pathType")
        path, path_type = checked_path(optional_str(entry.get("path"), f"{at}.path"), raw_type,
                                       f"{at}.path")
        if self.lookups.config.strict_path_types:
            check_strict(path, raw_type, f"{at}.path")
        backend = self._backend(entry.get("backend"), f"{at}.backend")
        wanted = self.wanted
        key = location_key(path, path_type)
        if wanted.canary is not None:
            self.request.canaries.append(CanaryClaim(
                at, host, key, path, path_type, Canary(backend, wanted.canary),
                wanted.sticky_canary))
            return
        regex = None
        if wanted.use_regex:
            try:
                regex = compile_regex(path, case_insensitive=True)
            except ValueError as error:
                raise FieldError(f"{at}.path", f"{error} (use-regex is set)",
                                 "InvalidPath") from None
        # ingress-nginx rewrites only paths the target differs from.
        rewrites = wanted.rewrite is not None and wanted.rewrite_target != path
        filters = self.rewritten_filters if rewrites else self.filters
        if skips_auth(path, self.lookups.config.no_auth_locations):
            filters = without_auth(filters)
        route = Route(path, path_type, backend, self.request.ref, host, filters=filters,
                      **self.route_settings)
        self.request.paths.append(PathClaim(at, key, route, rewrites or wanted.use_regex, regex))
        if host:
            self._host_settings(host, route)

    def _host_settings(self, host: str, route: Route) -> None:
        """app-root, server-alias and from-to-www, once per host of this Ingress."""
        request, wanted = self.request, self.wanted
        if wanted.app_root is not None and host not in request.app_roots:
            request.app_roots[host] = Route(
                "/", PathType.EXACT, route.backend, request.ref, host,
                filters=(AppRoot(wanted.app_root),), ssl_redirect=_NO_SSL_REDIRECT)
        if wanted.aliases:
            request.aliases.setdefault(host, wanted.aliases)
        if wanted.from_to_www and not host.startswith("*."):
            other = www_twin(host)
            if other not in request.www_redirects:
                request.www_redirects[other] = Route(
                    "/", PathType.PREFIX, route.backend, request.ref, other,
                    filters=(HostRedirect(host, self.lookups.config.redirect_code),),
                    ssl_redirect=_NO_SSL_REDIRECT)

    def _tls(self, i: int, raw: Any) -> None:
        at = f"spec.tls[{i}]"
        tls = mapping(raw, at)
        hosts = []
        for j, host in enumerate(sequence(tls.get("hosts"), f"{at}.hosts")):
            where = f"{at}.hosts[{j}]"
            try:
                parsed = parse_host(optional_str(host, where), where)
            except FieldError as error:
                self.request.problems.append(error.problem(self.request.ref))
                continue
            if parsed:
                hosts.append((where, parsed))
        secret_name = optional_str(tls.get("secretName"), f"{at}.secretName")
        secret = _secret_key(self.namespace, secret_name) if secret_name else None
        self.request.tls.append(TLSClaim(at, tuple(hosts), secret))


def parse_ingress(key: Key, body: Mapping[str, Any], resolver: BackendResolver,
                  lookups: Lookups) -> IngressRequest:
    """Everything one Ingress asks for, with a problem for every part it could not use."""
    parser = _IngressParser(key, body, resolver, lookups)
    try:
        return parser.parse()
    except FieldError as error:
        return IngressRequest(parser.request.ref, problems=[error.problem(parser.request.ref)])
    except Exception as error:  # one broken object must not stop the build
        return IngressRequest(
            parser.request.ref,
            problems=[Problem(parser.request.ref, "", f"cannot be processed: {error!r}",
                              "InternalError")],
        )
