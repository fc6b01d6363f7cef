"""Filters every front end needs: fixed answers, redirects, IP lists, rewrites, header edits."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import ClassVar

from ingress.model.filters.base import Filter, Phase, ResponseFilter

Network = IPv4Network | IPv6Network


@dataclass(frozen=True, slots=True)
class DirectResponse(Filter):
    """Answer with `status` and never forward (e.g. a route whose backends are all invalid)."""

    PHASE: ClassVar[Phase] = Phase.REWRITE
    status: int


@dataclass(frozen=True, slots=True)
class Redirect(Filter):
    """Answer every request with a redirect to a fixed URL, or to a path on the request's
    own scheme and host (nginx's absolute_redirect), with the listening port when it is not
    the scheme's own and `port_in_redirect` (nginx's port_in_redirect); with `relative`
    (absolute_redirect off), a path stays a path."""

    PHASE: ClassVar[Phase] = Phase.REWRITE
    status: int
    location: str
    relative: bool = False
    port_in_redirect: bool = False


@dataclass(frozen=True, slots=True)
class AppRoot(Filter):
    """Redirect requests for `/` to the application's root path on the request's own
    scheme and Host (302)."""

    PHASE: ClassVar[Phase] = Phase.REWRITE
    location: str


@dataclass(frozen=True, slots=True)
class SourceRanges(Filter):
    """403 unless the client address is in `allow` (when set) and not in `deny`."""

    PHASE: ClassVar[Phase] = Phase.ACCESS
    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()


@dataclass(frozen=True, slots=True)
class HeaderEdits:
    """Header changes: `remove` first, then `set` (replace), then `add` (append).

    Names are lower-case bytes; values bytes without CR or LF.
    """

    set: tuple[tuple[bytes, bytes], ...] = ()
    add: tuple[tuple[bytes, bytes], ...] = ()
    remove: frozenset[bytes] = frozenset()

    @property
    def replaced(self) -> frozenset[bytes]:
        """Names whose incoming values are dropped (removed, or replaced by `set`)."""
        return self.remove | {name for name, _ in self.set}


@dataclass(frozen=True, slots=True)
class RequestHeaders(Filter):
    PHASE: ClassVar[Phase] = Phase.CONTENT
    edits: HeaderEdits


@dataclass(frozen=True, slots=True)
class ResponseHeaders(ResponseFilter):
    edits: HeaderEdits
