"""The route model: path forms, conditions with fallthrough, weighted splits, filter order."""

from __future__ import annotations

import importlib
import pickle
import pkgutil
from dataclasses import dataclass, field

import pytest

import ingress.model.filters
from ingress.model import (
    Backend,
    BackendSplit,
    HeaderMatch,
    ObjectRef,
    PathType,
    QueryMatch,
    Regex,
    Route,
    RouteMatch,
    ValueMatch,
    VirtualHost,
    WeightedBackend,
    compile_regex,
)
from ingress.model.filters.base import Phase, in_phase_order
from ingress.model.filters.core import AppRoot, HeaderEdits, RequestHeaders, SourceRanges
from ingress.proxy.filters import missing_runners
from ingress.proxy.filters.core import edit_headers

SOURCE = ObjectRef("HTTPRoute", "default", "r")


def backend(name: str) -> Backend:
    return Backend("default", name, "80")


def route(name: str, path: str = "/", path_type: PathType = PathType.PREFIX,
          match: RouteMatch | None = None, next_route: Route | None = None,
          regex: Regex | None = None) -> Route:
    return Route(path, path_type, backend(name), SOURCE, "h", regex=regex, match=match,
                 next=next_route)


@dataclass
class Request:
    method: bytes = b"GET"
    headers: dict[bytes, bytes] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)

    def header(self, lname: bytes) -> bytes | None:
        return self.headers.get(lname)

    def query_value(self, name: str) -> str | None:
        return self.query.get(name)


def served_by(vhost: VirtualHost, path: str, request: Request | None = None) -> str | None:
    found = vhost.match(path, request or Request())
    return found.backend.service if found is not None else None


def test_exact_beats_regex_beats_prefix_and_regexes_go_in_order() -> None:
    vhost = VirtualHost(
        "h",
        exact={"/a/x": route("exact", "/a/x", PathType.EXACT)},
        prefixes={"/a": route("prefix", "/a")},
        regexes=(
            route("long", "/a/[0-9]+/z", PathType.REGEX, regex=Regex("/a/[0-9]+/z")),
            route("short", "/a/[0-9]+", PathType.REGEX, regex=Regex("/a/[0-9]+")),
        ),
    )
    assert served_by(vhost, "/a/x") == "exact"
    assert served_by(vhost, "/a/12/z") == "long"
    assert served_by(vhost, "/a/12") == "short"
    assert served_by(vhost, "/a/y") == "prefix"
    assert served_by(vhost, "/b") is None


def test_regex_is_anchored_at_the_start_and_can_ignore_case() -> None:
    vhost = VirtualHost("h", regexes=(
        route("r", "/api", PathType.REGEX, regex=Regex("/api", case_insensitive=True)),))
    assert served_by(vhost, "/API/v1") == "r"
    assert served_by(vhost, "/x/api") is None


def test_conditions_pick_an_alternative_then_fall_through_to_shorter_prefixes() -> None:
    by_header = RouteMatch(headers=(HeaderMatch(b"x-env", ValueMatch("canary")),))
    by_method = RouteMatch(method=b"POST")
    by_query = RouteMatch(query=(QueryMatch("v", ValueMatch("", Regex("[0-9]+"))),))
    chain = route("header", "/a", match=by_header,
                  next_route=route("method", "/a", match=by_method,
                                   next_route=route("query", "/a", match=by_query)))
    vhost = VirtualHost("h", prefixes={"/a": chain, "": route("root")})
    assert served_by(vhost, "/a/1", Request(headers={b"x-env": b"canary"})) == "header"
    assert served_by(vhost, "/a/1", Request(method=b"POST")) == "method"
    assert served_by(vhost, "/a/1", Request(query={"v": "42"})) == "query"
    assert served_by(vhost, "/a/1", Request(query={"v": "4x"})) == "root"
    assert served_by(vhost, "/a/1") == "root"


def test_precedence_orders_method_then_header_count_then_query_count() -> None:
    ranked = sorted(
        [RouteMatch(query=(QueryMatch("a", ValueMatch("1")),)),
         RouteMatch(headers=(HeaderMatch(b"a", ValueMatch("1")),) * 2),
         RouteMatch(method=b"GET"),
         RouteMatch(headers=(HeaderMatch(b"a", ValueMatch("1")),))],
        key=lambda m: m.precedence, reverse=True)
    assert [m.precedence for m in ranked] == [(1, 0, 0), (0, 2, 0), (0, 1, 0), (0, 0, 1)]


def test_split_picks_by_cumulative_weight() -> None:
    split = BackendSplit((WeightedBackend(backend("a"), 1), WeightedBackend(backend("b"), 0),
                          WeightedBackend(backend("c"), 3)))
    assert split.total == 4
    picks = [split.pick(draw) for draw in (0.0, 0.24, 0.25, 0.99)]
    assert [b.service for b in picks if b is not None] == ["a", "a", "c", "c"]
    assert BackendSplit((WeightedBackend(backend("a"), 0),)).pick(0.5) is None


def test_regex_pickles_as_its_source_and_compiles_again() -> None:
    regex = Regex("/user/([0-9]+)", case_insensitive=True)
    copy = pickle.loads(pickle.dumps(regex))
    assert copy == regex and copy.prefix_match("/USER/7")[1] == "7"


def test_bad_regex_names_the_pattern() -> None:
    with pytest.raises(ValueError, match=r"'\(unclosed' is not an RE2"):
        compile_regex("(unclosed")


def test_filters_are_ordered_by_phase_stably() -> None:
    allow = SourceRanges()
    edits = RequestHeaders(HeaderEdits())
    first, second = AppRoot("/a"), AppRoot("/b")
    assert in_phase_order([edits, allow, first, second]) == (first, second, allow, edits)
    assert [f.PHASE for f in (first, allow, edits)] == [Phase.REWRITE, Phase.ACCESS,
                                                         Phase.CONTENT]


def test_every_filter_type_has_a_runner() -> None:
    for module in pkgutil.iter_modules(ingress.model.filters.__path__):
        importlib.import_module(f"ingress.model.filters.{module.name}")
    assert missing_runners() == []


def test_header_edits_remove_then_set_then_add_ignoring_case() -> None:
    headers = [(b"Server", b"x"), (b"X-A", b"1"), (b"x-b", b"2"), (b"X-Keep", b"3")]
    edit_headers(headers, HeaderEdits(set=((b"x-a", b"new"),), add=((b"x-b", b"more"),),
                                      remove=frozenset({b"server"})))
    assert headers == [(b"x-b", b"2"), (b"X-Keep", b"3"), (b"x-a", b"new"), (b"x-b", b"more")]
