"""Filters of Gateway API HTTPRoutes that the core filters cannot express.

A RequestRedirect builds its Location from parts of the request, and a
URLRewrite replaces the whole path or the part a PathPrefix match took:
both need the route's matched prefix, which the builder puts into the
filter so that the proxy needs nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ingress.model.filters.base import Filter, Phase


@dataclass(frozen=True, slots=True)
class ReplaceFullPath:
    path: str


@dataclass(frozen=True, slots=True)
class ReplacePrefixMatch:
    """Replace `matched` (the route's PathPrefix, as written) at the start of the path."""

    matched: str
    replacement: str


PathModifier = ReplaceFullPath | ReplacePrefixMatch


@dataclass(frozen=True, slots=True)
class RequestRedirect(Filter):
    """Answer with a redirect to the request's URL with some parts replaced.

    `scheme` and `port` are final: the builder derived them from the
    listener the route is attached to (None: no port in the Location, the
    scheme's default). `hostname` None keeps the request's host, `path`
    None its path; the query is always kept.
    """

    PHASE: ClassVar[Phase] = Phase.REWRITE
    status: int
    scheme: str
    hostname: str | None = None
    port: int | None = None
    path: PathModifier | None = None


@dataclass(frozen=True, slots=True)
class URLRewrite(Filter):
    """Change the path sent upstream (the Host header is `UpstreamPolicy.host`)."""

    PHASE: ClassVar[Phase] = Phase.REWRITE
    path: PathModifier
