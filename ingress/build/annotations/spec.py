"""The shared shapes of annotation parsing: the input, the output, a group's interface."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ingress.build.annotations.values import InvalidValue
from ingress.model import (
    DEFAULT_SSL_REDIRECT,
    DEFAULT_UPSTREAM,
    Balancer,
    CanaryRules,
    HashKey,
    ObjectRef,
    Problem,
    SessionCookie,
    SslRedirect,
    UpstreamPolicy,
)
from ingress.model.filters.base import Filter, ResponseFilter
from ingress.model.filters.routing import RewritePath

PREFIX = "nginx.ingress.kubernetes.io/"

T = TypeVar("T")


@dataclass(slots=True)
class Annotations:
    """The `nginx.ingress.kubernetes.io/*` annotations of one object, by name without prefix."""

    obj: ObjectRef
    values: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def of(cls, raw: Mapping[str, Any], obj: ObjectRef) -> Annotations:
        values = {
            key[len(PREFIX) :]: value
            for key, value in raw.items()
            if isinstance(key, str) and key.startswith(PREFIX)
        }
        return cls(obj, values)

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
    """What an object's annotations ask of each of its routes (filled in by the groups)."""

    filters: list[Filter] = field(default_factory=list)
    response_filters: list[ResponseFilter] = field(default_factory=list)
    upstream: UpstreamPolicy = DEFAULT_UPSTREAM
    ssl_redirect: SslRedirect = DEFAULT_SSL_REDIRECT
    balancer: Balancer = Balancer.ROUND_ROBIN
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


class AnnotationGroup(Protocol):
    """A module parsing one group of annotations into a RouteSpec."""

    def parse(self, annotations: Annotations, spec: RouteSpec) -> None: ...
