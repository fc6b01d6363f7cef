"""The controller ConfigMap's access keys: whitelist-source-range and denylist-source-range
(defaults for Ingresses whose annotations set none), block-cidrs, block-user-agents and
block-referers (for every Ingress).

As in ingress-nginx, an Ingress's allowlist or denylist annotation replaces
the ConfigMap's list of that kind, and the block lists stay. One difference:
nginx drops its http-level `deny` (block-cidrs) in a location with IP lists
of its own; Portico keeps blocking those addresses there too. A list of
addresses that cannot be read closes every Ingress route (503) until it is
fixed: an access rule never fails open.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from ingress.build.annotations import values
from ingress.model.filters.blocking import BlockedClients, HeaderBlockList
from ingress.model.filters.core import Network, SourceRanges
from ingress.model.matches import compile_regex


def _networks(value: str) -> tuple[Network, ...]:
    return values.networks(value) if value.strip() else ()


def header_block_list(value: str) -> HeaderBlockList:
    """Comma-separated nginx `map` source values: text, `~regex` or `~*regex`."""
    exact: set[str] = set()
    patterns = []
    for item in (part.strip() for part in value.split(",")):
        if item.startswith("~"):
            insensitive = item.startswith("~*")
            try:
                patterns.append(compile_regex(item[2 if insensitive else 1:], insensitive))
            except ValueError as error:
                raise values.InvalidValue(str(error)) from None
        elif item:
            # `\` starts a value that would otherwise read as one of map's own words.
            exact.add(item.removeprefix("\\").lower())
    return HeaderBlockList(frozenset(exact), tuple(patterns))


READINGS: dict[str, tuple[Callable[[str], Any], str]] = {
    "whitelist-source-range": (_networks, ""),
    "denylist-source-range": (_networks, ""),
    "block-cidrs": (_networks, ""),
    "block-user-agents": (header_block_list, ""),
    "block-referers": (header_block_list, ""),
}
# Unreadable, these close the routes rather than leave them open.
CLOSED_WHEN_INVALID = frozenset({"whitelist-source-range", "denylist-source-range",
                                 "block-cidrs"})


def access_config(v: Mapping[str, Any], invalid: Collection[str]) -> dict[str, Any]:
    """The ControllerConfig fields of these keys, from their values (`invalid`: keys the
    ConfigMap set to something unusable)."""
    allow, deny, blocked = v["whitelist-source-range"], v["denylist-source-range"], v["block-cidrs"]
    user_agents, referers = v["block-user-agents"], v["block-referers"]
    return {
        "allow_ranges": allow,
        "deny_ranges": deny,
        "blocked_ranges": blocked,
        "filters": tuple(
            f for f in (
                BlockedClients(user_agents, referers) if user_agents or referers else None,
                SourceRanges(allow, blocked + deny) if allow or blocked or deny else None,
            ) if f is not None),
        "access_denied": bool(CLOSED_WHEN_INVALID & set(invalid)),
    }
