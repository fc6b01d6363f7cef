"""Property: the built table routes like a slow, literal reading of the rules.

Random Ingresses (one rule each, oldest first) and random requests; the
reference below restates the rules with lists and loops only: exact host
before `*.suffix` (one label), the host's paths before host-less rules
before the default backend; then nginx's locations as ingress-nginx
writes them: Exact `/p` and Prefix `/p` are `= /p` (Exact first), Prefix
`/p` is also the prefix `/p/` (element-wise), ImplementationSpecific `/p`
the prefix `/p`; the longest matching prefix wins; of two paths with the
same location the oldest keeps it.
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


def _host_rules(all_rules: list[Rule], host: str) -> list[Rule]:
    exact = [r for r in all_rules if r.host == host]
    if exact:
        return exact
    first, _, rest = host.partition(".")
    return [r for r in all_rules if first and rest and r.host == "*." + rest]


def _location(r: Rule) -> str:
    if r.path_type == "Exact":
        return "=" + r.path
    if r.path_type == "Prefix":
        return r.path.rstrip("/") + "/"
    return r.path


def _surviving(candidates: list[Rule]) -> list[Rule]:
    """The rules left when each location goes to its oldest rule."""
    seen: set[str] = set()
    kept = []
    for r in candidates:
        if _location(r) not in seen:
            seen.add(_location(r))
            kept.append(r)
    return kept


def _match(candidates: list[Rule], request_path: str) -> Rule | None:
    rules = _surviving(candidates)
    for r in rules:
        if r.path_type == "Exact" and r.path == request_path:
            return r
    for r in rules:
        if r.path_type == "Prefix" and r.path.rstrip("/") == request_path:
            return r
    best: Rule | None = None
    for r in rules:
        if r.path_type == "Exact" or not request_path.startswith(_location(r)):
            continue
        if best is None or len(_location(r)) > len(_location(best)):
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
