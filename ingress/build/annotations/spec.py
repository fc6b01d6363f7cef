"""The shared shapes of annotation parsing: the input, the output, a group's interface."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ingress.build.annotations.values import InvalidValue
from ingress.build.backends import BackendResolver
from ingress.build.config.controller import DEFAULT_CONFIG, ControllerConfig
from ingress.model import (
    DEFAULT_SSL_REDIRECT,
    DEFAULT_UPSTREAM,
    Backend,
    BackendProtocol,
    Balancer,
    CanaryRules,
    HashKey,
    ObjectRef,
    Problem,
    ServerTls,
    SessionCookie,
    SslRedirect,
    Tracing,
    UpstreamPolicy,
    UpstreamTls,
)
from ingress.model.filters.base import Filter, ResponseFilter
from ingress.model.filters.routing import RewritePath
from ingress.store import Body, Key

PREFIX = "nginx.ingress.kubernetes.io/"

T = TypeVar("T")


@dataclass(slots=True)
class Lookups:
    """What annotation groups may read besides the annotations, in one build.

    The controller ConfigMap's decisions, the objects an annotation may name
    (ConfigMaps, Secrets, Services), and the controller's default backend.
    Groups record what they read in `referenced_*`: the Kubernetes source
    keeps those objects and drops the others.
    """

    config: ControllerConfig = DEFAULT_CONFIG
    config_maps: Mapping[Key, Body] = field(default_factory=dict)
    secrets: Mapping[Key, Body] = field(default_factory=dict)
    backends: BackendResolver | None = None
    default_backend: Backend | None = None
    now: float = 0.0  # decides which client certificates have expired
    ssl_passthrough: bool = False  # --enable-ssl-passthrough is on
    referenced_secrets: set[Key] = field(default_factory=set)
    referenced_config_maps: set[Key] = field(default_factory=set)


@dataclass(slots=True)
class Annotations:
    """The `nginx.ingress.kubernetes.io/*` annotations of one object, by name without prefix."""

    obj: ObjectRef
    values: dict[str, Any]
    lookups: Lookups = field(default_factory=Lookups)
    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def of(cls, raw: Mapping[str, Any], obj: ObjectRef, lookups: Lookups) -> Annotations:
        values = {
            key[len(PREFIX) :]: value
            for key, value in raw.items()
            if isinstance(key, str) and key.startswith(PREFIX)
        }
        return cls(obj, values, lookups)

    @staticmethod
    def field(name: str) -> str:
        """The field path problems name for annotation `name`."""
        return f'metadata.annotations["{PREFIX}{name}"]'

    @staticmethod
    def name_in(field: str) -> str | None:
        """The annotation a problem's field names (without prefix), or None."""
        head, tail = 'metadata.annotations["' + PREFIX, '"]'
        if field.startswith(head) and field.endswith(tail):
            return field[len(head) : -len(tail)]
        return None

    def report(self, name: str, message: str, reason: str = "InvalidAnnotation") -> None:
        self.problems.append(Problem(self.obj, self.field(name), message, reason))

    def invalid(self, name: str) -> bool:
        """Whether annotation `name` was reported as invalid."""
        return any(p.field == self.field(name) for p in self.problems)

    def parsed(self, name: str, parser: Callable[[str], T]) -> T | None:
        """The parsed value of annotation `name`; None when absent or invalid (reported)."""
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.report(name, f"must be a string, not {type(value).__name__}")
            return None
        try:
            return parser(value)
        except InvalidValue as error:
            self.report(name, str(error))
            return None


@dataclass(slots=True)
class RouteSpec:
    """What an object's annotations ask of each of its routes (filled in by the groups).

    It starts from the controller ConfigMap's defaults (`for_config`).
    """

    filters: list[Filter] = field(default_factory=list)
    response_filters: list[ResponseFilter] = field(default_factory=list)
    upstream: UpstreamPolicy = DEFAULT_UPSTREAM
    ssl_redirect: SslRedirect = DEFAULT_SSL_REDIRECT
    balancer: Balancer = Balancer.ROUND_ROBIN
    protocol: BackendProtocol = BackendProtocol.HTTP
    tls: UpstreamTls | None = None
    service_upstream: bool = False
    error_codes: frozenset[int] = frozenset()
    # default-backend: serves the error codes, and requests the route's Service cannot.
    error_backend: Backend | None = None
    access_log: bool = True
    tracing: Tracing | None = None  # None: not traced
    # Set when an annotation asks for a guard Portico cannot set up (an auth Secret is
    # missing...): the routes answer 503 instead of going unguarded, as in ingress-nginx.
    denied: bool = False
    problems: list[Problem] = field(default_factory=list)
    # Routing (ingress-nginx's location and server settings):
    use_regex: bool = False  # the paths are RE2 regexes
    # rewrite-target: applies to the paths it differs from (`rewrite_target` as written).
    rewrite: RewritePath | None = None
    rewrite_target: str = ""
    app_root: str | None = None  # `/` of the Ingress's hosts redirects here
    from_to_www: bool = False
    aliases: tuple[str, ...] = ()  # more host names for the Ingress's hosts
    canary: CanaryRules | None = None  # set: a canary Ingress, adding to others' routes
    hash_key: HashKey | None = None
    session_cookie: SessionCookie | None = None
    # affinity-canary-behavior "sticky": a canary shares its mainline's session cookie.
    sticky_canary: bool = True
    # For the Ingress's hosts (ssl-ciphers, ssl-prefer-server-ciphers, ssl-passthrough).
    server_tls: ServerTls | None = None
    ssl_passthrough: bool = False

    @classmethod
    def for_config(cls, config: ControllerConfig) -> RouteSpec:
        return cls(
            filters=list(config.filters),
            denied=config.access_denied,
            response_filters=list(config.response_filters),
            upstream=config.upstream,
            ssl_redirect=config.ssl_redirect,
            balancer=config.balancer,
            service_upstream=config.service_upstream,
            error_codes=config.error_codes,
            tracing=config.tracing_defaults if config.tracing else None,
        )


class AnnotationGroup(Protocol):
    """A module parsing one group of annotations into a RouteSpec."""

    def parse(self, annotations: Annotations, spec: RouteSpec) -> None: ...
