"""Global blocks from the controller ConfigMap: block-user-agents, block-referers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ingress.model.filters.base import Filter, Phase
from ingress.model.matches import Regex


@dataclass(frozen=True, slots=True)
class HeaderBlockList:
    """The entries of one nginx `map` over a header: an entry that is text matches the
    whole value, ignoring case; a regex (`~`, `~*` ignoring case) matches anywhere in it."""

    exact: frozenset[str] = frozenset()  # lower-case
    patterns: tuple[Regex, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.exact or self.patterns)

    def matches(self, value: bytes | None) -> bool:
        if value is None:
            return False
        text = value.decode("latin-1")
        return text.lower() in self.exact or any(p.search(text) for p in self.patterns)


@dataclass(frozen=True, slots=True)
class BlockedClients(Filter):
    """403 for a request whose User-Agent or Referer is on a block list.

    ingress-nginx answers these in each server's rewrite phase, before any
    location's own steps: this filter is a route's first.
    """

    PHASE: ClassVar[Phase] = Phase.REWRITE
    user_agents: HeaderBlockList = HeaderBlockList()
    referers: HeaderBlockList = HeaderBlockList()
