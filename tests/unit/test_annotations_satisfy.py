"""satisfy → SatisfyAny over the access checks, in nginx's order."""

from __future__ import annotations

import ipaddress

import pytest

from ingress.build.annotations import satisfy
from ingress.build.annotations.spec import PREFIX, Annotations, Lookups, RouteSpec
from ingress.model import ObjectRef
from ingress.model.filters.base import Filter
from ingress.model.filters.basicauth import BasicAuth
from ingress.model.filters.core import HeaderEdits, RequestHeaders, SourceRanges
from ingress.model.filters.extauth import ExternalAuth, Template
from ingress.model.filters.routing import RewritePath
from ingress.model.filters.routing import Template as Captures
from ingress.model.filters.satisfy import SatisfyAny

OBJ = ObjectRef("Ingress", "default", "a")
IPS = SourceRanges(allow=(ipaddress.ip_network("10.0.0.0/8"),))
BASIC = BasicAuth("realm", ())
EXTERNAL = ExternalAuth(Template(("http://auth/",)))
STRIP = RequestHeaders(HeaderEdits(remove=frozenset({b"authorization"})))
REWRITE = RewritePath(Captures(("/",)))


def parsed(value: str, filters: list[Filter]) -> tuple[list[Filter], list[str]]:
    annotations = Annotations.of({PREFIX + "satisfy": value}, OBJ, Lookups())
    spec = RouteSpec(filters=list(filters))
    satisfy.parse(annotations, spec)
    return spec.filters, [p.field for p in annotations.problems]


@pytest.mark.parametrize(
    ("value", "given", "expected"),
    [
        ("any", [REWRITE, EXTERNAL, BASIC, STRIP, IPS],
         [REWRITE, STRIP, SatisfyAny((IPS, BASIC, EXTERNAL))]),
        ("any", [BASIC, STRIP, IPS], [STRIP, SatisfyAny((IPS, BASIC))]),
        ("any", [BASIC, STRIP], [BASIC, STRIP]),  # one check: nothing to combine
        ("all", [IPS, BASIC, STRIP], [IPS, BASIC, STRIP]),
    ],
)
def test_satisfy(value: str, given: list[Filter], expected: list[Filter]) -> None:
    filters, problems = parsed(value, given)
    assert problems == [] and filters == expected


def test_a_signin_takes_the_401_of_basic_auth_too() -> None:
    signin = Template(("https://sso/start",))
    external = ExternalAuth(Template(("http://auth/",)), signin=signin)
    filters, _ = parsed("all", [BASIC, external])
    assert filters == [BasicAuth("realm", (), signin=signin), external]


def test_invalid_value_is_reported_and_all_applies() -> None:
    filters, problems = parsed("some", [IPS, BASIC])
    assert filters == [IPS, BASIC] and len(problems) == 1
