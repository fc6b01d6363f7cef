"""One Ingress → what it asks for: routes, a default backend, TLS hosts.

Conflicts between Ingresses are not decided here (the builder does that,
oldest first); this module only reads one object and reports what is wrong
with it, skipping the smallest broken part (a path, a rule, a TLS entry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingress.build.annotations import parse_annotations
from ingress.build.backends import BackendResolver
from ingress.build.fields import FieldError, mapping, optional_str, sequence
from ingress.build.hosts import parse_host
from ingress.build.paths import match_key
from ingress.model import ObjectRef, PathType, Problem, Route
from ingress.model.filters.base import in_phase_order
from ingress.store import Key


@dataclass(frozen=True, slots=True)
class PathClaim:
    """A route and the field that asked for it (named in conflicts)."""

    field: str
    key: str  # VirtualHost.exact / .prefixes key
    route: Route


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


def _secret_key(namespace: str, secret_name: str) -> Key:
    # Always the Ingress's own namespace: a tenant must not serve another's certificate.
    return (namespace, secret_name)


class _IngressParser:
    def __init__(self, key: Key, body: Mapping[str, Any], resolver: BackendResolver) -> None:
        self.namespace = key[0]
        self.body = body
        self.resolver = resolver
        self.request = IngressRequest(ObjectRef("Ingress", *key))

    def parse(self) -> IngressRequest:
        request = self.request
        metadata = mapping(self.body.get("metadata"), "metadata")
        wanted = parse_annotations(
            mapping(metadata.get("annotations"), "metadata.annotations"), request.ref
        )
        request.problems.extend(wanted.problems)
        self.balancer = wanted.balancer
        # The parts every route of this Ingress shares, built once.
        self.route_settings: dict[str, Any] = {
            "filters": in_phase_order(wanted.filters),
            "response_filters": tuple(wanted.response_filters),
            "upstream": wanted.upstream,
            "ssl_redirect": wanted.ssl_redirect,
        }
        spec = mapping(self.body.get("spec"), "spec")
        if spec.get("defaultBackend") is not None:
            self._guard(self._default_backend, spec["defaultBackend"])
        for i, rule in enumerate(sequence(spec.get("rules"), "spec.rules")):
            self._guard(self._rule, i, rule)
        for i, tls in enumerate(sequence(spec.get("tls"), "spec.tls")):
            self._guard(self._tls, i, tls)
        return request

    def _guard(self, parse: Callable[..., None], *args: Any) -> None:
        try:
            parse(*args)
        except FieldError as error:
            self.request.problems.append(error.problem(self.request.ref))

    def _default_backend(self, raw: Any) -> None:
        backend = self.resolver.resolve(self.namespace, raw, "spec.defaultBackend", self.balancer)
        self.request.default_backend = Route(
            "/", PathType.PREFIX, backend, self.request.ref, "", **self.route_settings
        )

    def _rule(self, i: int, raw: Any) -> None:
        at = f"spec.rules[{i}]"
        rule = mapping(raw, at)
        host = parse_host(optional_str(rule.get("host"), f"{at}.host"), f"{at}.host")
        http = mapping(rule.get("http"), f"{at}.http")
        if host:
            self.request.rule_hosts.append(host)
        for j, path in enumerate(sequence(http.get("paths"), f"{at}.http.paths")):
            self._guard(self._path, host, f"{at}.http.paths[{j}]", path)

    def _path(self, host: str, at: str, raw: Any) -> None:
        entry = mapping(raw, at)
        path = optional_str(entry.get("path"), f"{at}.path")
        raw_type = optional_str(entry.get("pathType"), f"{at}.pathType")
        path_type, key = match_key(path, raw_type, f"{at}.path")
        backend = self.resolver.resolve(self.namespace, entry.get("backend"), f"{at}.backend",
                                        self.balancer)
        route = Route(path or "/", path_type, backend, self.request.ref, host,
                      **self.route_settings)
        self.request.paths.append(PathClaim(at, key, route))

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


def parse_ingress(key: Key, body: Mapping[str, Any], resolver: BackendResolver) -> IngressRequest:
    """Everything one Ingress asks for, with a problem for every part it could not use."""
    parser = _IngressParser(key, body, resolver)
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
