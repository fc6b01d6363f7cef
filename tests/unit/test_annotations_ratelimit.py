"""Rate-limit annotations → RateLimit / ResponseRate filters, as ingress-nginx reads them."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from ingress.build.annotations import ratelimit
from ingress.build.annotations.spec import PREFIX, Annotations, Lookups, RouteSpec
from ingress.model import ObjectRef
from ingress.model.filters.ratelimit import RateLimit, RequestRate, ResponseRate

OBJ = ObjectRef("Ingress", "shop", "front")


def parsed(raw: dict[str, str]) -> tuple[tuple[Any, ...], list[str]]:
    annotations = Annotations.of({PREFIX + k: v for k, v in raw.items()}, OBJ, Lookups())
    spec = RouteSpec()
    ratelimit.parse(annotations, spec)
    return tuple(spec.filters), [p.field.split(PREFIX)[1][:-2] for p in annotations.problems]


def limit(*rates: RequestRate, connections: int = 0, allow: str = "") -> RateLimit:
    networks = tuple(ipaddress.ip_network(n.strip()) for n in allow.split(",") if n.strip())
    return RateLimit("shop/front", rates, connections, networks)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, ()),
        ({"limit-rps": "0", "limit-rpm": "0", "limit-connections": "0"}, ()),
        # burst = rate x multiplier (default 5)
        ({"limit-rps": "10"}, (limit(RequestRate(10, 50)),)),
        ({"limit-rpm": "120"}, (limit(RequestRate(2, 600)),)),
        ({"limit-rps": "3", "limit-burst-multiplier": "1"}, (limit(RequestRate(3, 3)),)),
        ({"limit-rps": "3", "limit-burst-multiplier": "0"}, (limit(RequestRate(3, 0)),)),
        ({"limit-rps": "5", "limit-rpm": "60"},
         (limit(RequestRate(5, 25), RequestRate(1, 300)),)),
        ({"limit-connections": "8"}, (limit(connections=8),)),
        ({"limit-rps": "1", "limit-whitelist": "10.0.0.0/8, 192.168.0.1"},
         (limit(RequestRate(1, 5), allow="10.0.0.0/8, 192.168.0.1/32"),)),
        ({"limit-rps": "1", "limit-whitelist": "10.0.0.0/8", "limit-allowlist": "::1"},
         (limit(RequestRate(1, 5), allow="::1"),)),
        # kilobytes, as nginx's `limit_rate {n}k`
        ({"limit-rate": "100"}, (ResponseRate(102400),)),
        ({"limit-rate": "1", "limit-rate-after": "512"}, (ResponseRate(1024, 524288),)),
        ({"limit-rate-after": "512"}, ()),
        # an allowlist alone limits nothing
        ({"limit-allowlist": "10.0.0.0/8"}, ()),
    ],
)
def test_annotations(raw: dict[str, str], expected: tuple[Any, ...]) -> None:
    filters, problems = parsed(raw)
    assert problems == []
    assert filters == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [("limit-rps", "ten"), ("limit-rpm", "-1"), ("limit-connections", "1.5"),
     ("limit-whitelist", "10.0.0.0/33"), ("limit-rate", "1k"), ("limit-rate-after", "x")],
)
def test_bad_values_are_reported_and_ignored(name: str, value: str) -> None:
    filters, problems = parsed({name: value, "limit-rps": "2"} if name != "limit-rps"
                               else {name: value, "limit-rpm": "60"})
    assert problems == [name]
    assert len(filters) == 1 and isinstance(filters[0], RateLimit)


def test_bad_multiplier_falls_back_to_five() -> None:
    filters, problems = parsed({"limit-rps": "2", "limit-burst-multiplier": "many"})
    assert problems == ["limit-burst-multiplier"]
    assert filters == (limit(RequestRate(2, 10)),)
