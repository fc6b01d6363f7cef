"""nginx's `satisfy any`: a request passes when any one of a route's access checks allows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ingress.model.filters.base import Filter, Phase


@dataclass(frozen=True, slots=True)
class SatisfyAny(Filter):
    """The access checks (IP lists, basic auth, external auth), tried in nginx's order until
    one allows. When all refuse, a 401 wins over a 403 (it may become a sign-in redirect)."""

    PHASE: ClassVar[Phase] = Phase.ACCESS
    checks: tuple[Filter, ...]
