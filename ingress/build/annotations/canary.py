"""Canary Ingresses: canary, canary-by-header(-value, -pattern), canary-by-cookie,
canary-weight(-total).

A canary Ingress never routes on its own: the builder adds its backend to
the route of the Ingress with the same host, path and pathType. Its other
annotations are not used, except those choosing how its backend balances
(load-balance, upstream-hash-by, affinity), as in ingress-nginx.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import CanaryRules, HeaderRule, compile_regex

_HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_NAMES = ("canary-weight", "canary-weight-total", "canary-by-header", "canary-by-header-value",
          "canary-by-header-pattern", "canary-by-cookie")
# Below this ingress-nginx ignores canary-weight-total and divides by 100.
MIN_WEIGHT_TOTAL = 100


def _header_name(value: str) -> bytes:
    name = value.strip()
    if not _HEADER_NAME.fullmatch(name):
        raise values.InvalidValue(f"must be an HTTP header name, not {value!r}")
    return name.lower().encode("ascii")


def _weight_total(value: str) -> int:
    total = values.positive_integer(value)
    if total < MIN_WEIGHT_TOTAL:
        raise values.InvalidValue(
            f"must be {MIN_WEIGHT_TOTAL} or more (ingress-nginx uses 100 below that), "
            f"not {value!r}"
        )
    return total


def _header_rules(annotations: Annotations) -> CanaryRules:
    header = annotations.parsed("canary-by-header", _header_name)
    if header is None:
        return CanaryRules()
    value = annotations.parsed("canary-by-header-value", str.strip)
    if value:
        return CanaryRules(header, HeaderRule.VALUE, header_value=value)
    pattern = annotations.parsed("canary-by-header-pattern", str.strip)
    if not pattern:
        return CanaryRules(header)
    try:
        regex = compile_regex(pattern)
    except ValueError as error:
        # ingress-nginx fails the match at request time and keeps the mainline.
        annotations.report("canary-by-header-pattern",
                           f"{error}; requests with the header stay on the mainline")
        return CanaryRules(header, HeaderRule.MAINLINE)
    return CanaryRules(header, HeaderRule.PATTERN, header_pattern=regex)


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    enabled = annotations.parsed("canary", values.boolean)
    if not enabled:
        configured = [name for name in _NAMES if name in annotations.values]
        if configured:
            annotations.report("canary", f"{', '.join(configured)} set but canary is not true; "
                               "the Ingress routes as a normal one")
        return
    spec.canary = replace(
        _header_rules(annotations),
        cookie=annotations.parsed("canary-by-cookie", values.cookie_name) or "",
        weight=annotations.parsed("canary-weight", values.non_negative_integer) or 0,
        weight_total=annotations.parsed("canary-weight-total", _weight_total) or MIN_WEIGHT_TOTAL,
    )
