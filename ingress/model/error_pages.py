"""custom-http-errors and default-backend: another Service answers for a route."""

from __future__ import annotations

from dataclasses import dataclass

from ingress.model.backends import Backend


@dataclass(frozen=True, slots=True)
class ErrorPages:
    """Who answers instead of the route's pods, and when.

    Responses whose status is in `codes` are replaced by the answer of
    `backend` to ingress-nginx's custom error request (path `/`, `X-Code`
    and the other `X-*` headers). With `when_unavailable`, a request the
    route's own backend cannot serve (no endpoint) goes to `backend` as it
    is, with `X-Code: 503`.
    """

    backend: Backend
    codes: frozenset[int] = frozenset()
    when_unavailable: bool = False
