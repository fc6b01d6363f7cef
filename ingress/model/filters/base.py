"""The two kinds of filter, and the phases request filters run in.

Request filters run in nginx's phase order, so a route whose filters come
from several annotation groups behaves as the same Ingress did under
ingress-nginx: redirects and rewrites first (nginx's rewrite phase), then
limits (preaccess), then IP lists and authentication (access), then edits
of the request sent upstream. Within a phase, the builder's order stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar


class Phase(IntEnum):
    REWRITE = 10
    PREACCESS = 20
    ACCESS = 30
    CONTENT = 40


@dataclass(frozen=True, slots=True)
class Filter:
    """A request-phase step: may answer the request itself or change what goes upstream."""

    PHASE: ClassVar[Phase] = Phase.CONTENT


@dataclass(frozen=True, slots=True)
class ResponseFilter:
    """A response-phase step: edits the response head before it reaches the client."""


def in_phase_order(filters: list[Filter]) -> tuple[Filter, ...]:
    """Stable: filters of one phase keep the order they were given in."""
    return tuple(sorted(filters, key=lambda f: f.PHASE))
