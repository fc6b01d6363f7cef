"""Property: the built table routes like a slow, literal reading of the Ingress spec.

Random Ingresses (one rule each, oldest first) and random requests; the
reference below restates the rules with lists and loops only: exact host
before `*.suffix` (one label), the host's paths before host-less rules
before the default backend, Exact before Prefix, element-wise longest
prefix, oldest claim wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from build_objects import backend, ingress, path, rule, run, service
from hypothesis import given, settings
from hypothesis import strategies as st

LABELS = st.sampled_from(["a", "b", "c"])
SEGMENTS = st.sampled_from(["x", "y", "xy", "X"])


@dataclass(frozen=True)
class Rule:
    host: str  # '' = any host, '*.suffix' = wildcard
    path_type: str
    path: str
    service: str


def _path(segments: list[str], trailing: bool) -> str:
    text = "/" + "/".join(segments)
    return text + "/" if trailing and segments else text


paths = st.builds(_path, st.lists(SEGMENTS, max_size=3), st.booleans())
hosts = st.one_of(
    st.just(""),
    st.lists(LABELS, min_size=1, max_size=3).map(".".join),
    st.lists(LABELS, min_size=1, max_size=2).map(lambda labels: "*." + ".".join(labels)),
)
request_hosts = st.lists(LABELS, min_size=1, max_size=4).map(".".join)


@st.composite
def rules(draw: st.DrawFn) -> list[Rule]:
    count = draw(st.integers(0, 8))
    return [
        Rule(draw(hosts), draw(st.sampled_from(["Exact", "Prefix", "ImplementationSpecific"])),
             draw(paths), f"s{i}")
        for i in range(count)
    ]


def _elements(text: str) -> list[str]:
    return [element for element in text.split("/") if element]


def _host_rules(all_rules: list[Rule], host: str) -> list[Rule]:
    exact = [r for r in all_rules if r.host == host]
    if exact:
        return exact
    first, _, rest = host.partition(".")
    return [r for r in all_rules if first and rest and r.host == "*." + rest]


def _match(candidates: list[Rule], request_path: str) -> Rule | None:
    for r in candidates:  # oldest first, so the first match is the winner
        if r.path_type == "Exact" and r.path == request_path:
            return r
    best: Rule | None = None
    for r in candidates:
        if r.path_type == "Exact":
            continue
        wanted = _elements(r.path)
        if _elements(request_path)[: len(wanted)] == wanted and (
            best is None or len(wanted) > len(_elements(best.path))
        ):
            best = r
    return best


def reference(
    all_rules: list[Rule], default: str | None, host: str, request_path: str
) -> str | None:
    for candidates in (_host_rules(all_rules, host), [r for r in all_rules if r.host == ""]):
        found = _match(candidates, request_path)
        if found is not None:
            return found.service
    return default


def objects_for(all_rules: list[Rule], default: str | None) -> list[dict[str, Any]]:
    objects = [service(r.service) for r in all_rules] + [service("default")]
    for i, r in enumerate(all_rules):
        objects.append(ingress(
            f"ing{i}", [rule(r.host or None, path(r.path, r.service, path_type=r.path_type))],
            created=f"2024-01-01T00:00:{i:02}Z",
        ))
    if default is not None:
        objects.append(ingress("zz-default", default_backend=backend(default)))
    return objects


@settings(max_examples=300, deadline=None)
@given(rules(), st.sampled_from([None, "default"]),
       st.lists(st.tuples(request_hosts, paths), min_size=1, max_size=10))
def test_route_agrees_with_the_reference(
    all_rules: list[Rule], default: str | None, requests: list[tuple[str, str]]
) -> None:
    result = run(*objects_for(all_rules, default))
    assert all(p.reason == "Conflict" for p in result.problems)
    for host, request_path in requests:
        route = result.table.route(host, request_path)
        got = None if route is None else route.backend.service
        assert got == reference(all_rules, default, host, request_path), (host, request_path)
