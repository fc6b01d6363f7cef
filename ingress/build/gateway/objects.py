"""Small tolerant reads shared by the Gateway API front end's modules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingress.store import Body


def mapping_of(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else empty (for reads that must never fail)."""
    return value if isinstance(value, Mapping) else {}


def generation(body: Body) -> int:
    value = mapping_of(body.get("metadata")).get("generation")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def age(body: Body) -> str:
    """creationTimestamp: RFC 3339 UTC timestamps sort as text ('' sorts first)."""
    created = mapping_of(body.get("metadata")).get("creationTimestamp")
    return created if isinstance(created, str) else ""
