"""A canary: a second backend on a route, taken by header, cookie or weight.

ingress-nginx's canary Ingress never routes on its own; it adds this to
the route of the Ingress that owns the same host, path and pathType.
Precedence is header, then cookie, then weight, after session affinity
(a client pinned to either backend stays there).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ingress.model.backends import Backend
from ingress.model.matches import Regex


class HeaderRule(IntEnum):
    """What the canary header's value decides, when the request carries it."""

    ALWAYS_NEVER = 0  # "always": canary, "never": mainline, else: next rule
    VALUE = 1  # equal to `header_value`: canary, else next rule
    PATTERN = 2  # `header_pattern` found in it: canary, else next rule
    # The pattern did not compile: ingress-nginx keeps such requests on the mainline.
    MAINLINE = 3


@dataclass(frozen=True, slots=True)
class CanaryRules:
    """When a request goes to the canary (the canary Ingress's annotations)."""

    header: bytes = b""  # lower-case name; b"": no header rule
    header_rule: HeaderRule = HeaderRule.ALWAYS_NEVER
    header_value: str = ""
    header_pattern: Regex | None = None
    cookie: str = ""  # "": no cookie rule ("always" / "never" values)
    weight: int = 0  # out of `weight_total`
    weight_total: int = 100


@dataclass(frozen=True, slots=True)
class Canary:
    backend: Backend
    rules: CanaryRules
