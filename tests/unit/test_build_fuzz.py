"""Fuzzing the builder: whatever the cluster holds, the build returns, reports, and keeps routing.

Random and malformed Ingress, IngressClass, Service, EndpointSlice and Secret
objects (wrong types anywhere, huge strings, unicode hosts, thousands of
paths) are built next to a known-good set. The build never raises, every
problem is well formed, a wrongly typed field the builder reads is reported
on its object, and the good Ingress keeps its routes, backend and
certificate.

`make test` runs a seeded, bounded version (derandomized, a few hundred
examples); `PORTICO_FUZZ_EXAMPLES=20000 pytest tests/unit/test_build_fuzz.py`
searches longer with fresh randomness.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import trustme
from build_objects import (
    NOW,
    backend,
    endpoint,
    endpoint_slice,
    ingress,
    ingress_class,
    path,
    rule,
    service,
    tls_secret,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingress.build import build
from ingress.model import Problem
from ingress.settings import BuildSettings
from ingress.store import KINDS, key_of

EXAMPLES = int(os.environ.get("PORTICO_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 100,
    derandomize=not EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

GOOD_HOST = "good.example"
CERT = trustme.CA().issue_cert(GOOD_HOST)


def good_objects() -> list[dict[str, Any]]:
    """An Ingress with TLS, two paths, a Service, its pods and its certificate."""
    return [
        ingress_class("portico"),
        ingress("good", [rule(GOOD_HOST, path("/", service="good"),
                              path("/api", service="good", path_type="Exact"))],
                namespace="good", tls=[{"hosts": [GOOD_HOST], "secretName": "good-tls"}],
                created="2000-01-01T00:00:00Z"),
        service("good", namespace="good"),
        endpoint_slice("good-1", "good", [endpoint("10.9.9.9", ready=True)], namespace="good"),
        tls_secret("good-tls", CERT.cert_chain_pems[0].bytes(),
                   CERT.private_key_pem.bytes(), namespace="good"),
    ]


def templates() -> list[dict[str, Any]]:
    """One valid object of each kind, for mutations to start from."""
    annotated = ingress(
        "fuzzed", [rule("fuzz.example", path("/", service="web"))], namespace="fuzz",
        tls=[{"hosts": ["fuzz.example"], "secretName": "fuzz-tls"}],
        default_backend=backend("web"),
        annotations={"nginx.ingress.kubernetes.io/rewrite-target": "/",
                     "nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8",
                     "nginx.ingress.kubernetes.io/proxy-body-size": "8m"},
    )
    return [
        annotated,
        ingress_class("fuzz-class"),
        service("web", [{"name": "http", "port": 80, "targetPort": "http"}], namespace="fuzz"),
        endpoint_slice("web-1", "web", [endpoint("10.0.0.1", ready=True)],
                       [{"name": "http", "port": 8080, "protocol": "TCP"}], namespace="fuzz"),
        tls_secret("fuzz-tls", CERT.cert_chain_pems[0].bytes(), CERT.private_key_pem.bytes(),
                   namespace="fuzz"),
    ]


TEMPLATES = templates()

huge_text = st.sampled_from([10_000, 100_000]).map(lambda n: "é" * n)
hosts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["*", "*.", "*.*.a", "ÄÖ.example", "xn--ls8h.la", "a..b", ".a", "a.",
                     "A.EXAMPLE", "good.example", "*.example", "a b", "a/b", "[::1]", "1.2.3.4",
                     "ex\u0000ample", "\u202eevil.example"]),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63),
    st.floats(allow_nan=True), st.text(max_size=30), hosts, huge_text,
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["name", "port", "path", "host", "number", "hosts",
                                         "service", "backend", "http", "paths", "pathType",
                                         "secretName", "tls.crt", "ready", "addresses", "x"]),
                        children, max_size=4),
    ),
    max_leaves=12,
)


def _containers(body: Any, trail: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths (key/index sequences) to every dict and list inside `body`."""
    found = [trail]
    items = body.items() if isinstance(body, dict) else enumerate(body)
    for key, child in items:
        if isinstance(child, dict | list):
            found.extend(_containers(child, (*trail, key)))
    return found


def _at(body: Any, trail: tuple[Any, ...]) -> Any:
    for key in trail:
        body = body[key]
    return body


@st.composite
def mutated(draw: st.DrawFn, template: dict[str, Any]) -> dict[str, Any]:
    """`template` with a few random edits: a value replaced, deleted or added anywhere."""
    body = copy.deepcopy(template)
    for _ in range(draw(st.integers(1, 4))):
        container = _at(body, draw(st.sampled_from(_containers(body))))
        if isinstance(container, dict):
            keys = sorted(container)
            key = draw(st.sampled_from(keys) if keys and draw(st.booleans())
                       else st.sampled_from(["x", "host", "path", "rules", "ports", "data"]))
            if key in container and draw(st.integers(0, 3)) == 0:
                del container[key]
            else:
                container[key] = draw(values)
        elif container and draw(st.booleans()):
            container[draw(st.integers(0, len(container) - 1))] = draw(values)
        else:
            container.append(draw(values))
    return body


def fuzz_snapshot(extra: list[tuple[str, Any]]) -> dict[str, dict[tuple[str, str], Any]]:
    """The good objects, and the fuzzed ones as the store would hold them.

    Every source guarantees a mapping with `metadata.name` and (for namespaced
    kinds) `metadata.namespace` strings; the rest of an object is anything.
    Fuzzed objects live in namespace `fuzz` (IngressClasses get names of their
    own), so they can conflict with the good ones but never replace them.
    """
    snapshot: dict[str, dict[tuple[str, str], Any]] = {kind: {} for kind in KINDS}
    for body in good_objects():
        snapshot[body["kind"]][key_of(body)] = body
    for i, (kind, raw) in enumerate(extra):
        body = dict(raw)
        metadata = body.get("metadata")
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        name = metadata.get("name")
        if kind == "IngressClass" or not isinstance(name, str) or not name:
            metadata["name"] = f"fuzz-{i}"
        if kind == "IngressClass":
            metadata.pop("namespace", None)
        else:
            metadata["namespace"] = "fuzz"
        body["metadata"] = metadata
        snapshot[kind][key_of(body)] = body
    return snapshot


def assert_good_still_routed(result: Any) -> None:
    table = result.table
    for request_path in ("/", "/api", "/other"):
        route = table.route(GOOD_HOST, request_path)
        assert route is not None and route.source.namespace == "good", request_path
        assert [e.address for e in table.endpoint_set(route.backend).ready] == [
            ("10.9.9.9", 8080)]
    certificate = table.certificate(GOOD_HOST)
    assert certificate is not None and certificate.secret.name == "good-tls"
    for problem in result.problems:
        assert isinstance(problem, Problem)
        assert problem.obj.namespace != "good", str(problem)
        assert str(problem)


objects = st.lists(
    st.sampled_from(TEMPLATES).flatmap(
        lambda t: st.tuples(st.just(t["kind"]), mutated(t))),
    min_size=1, max_size=5,
)


@FUZZ
@given(objects)
def test_random_objects_never_break_the_build(extra: list[tuple[str, dict[str, Any]]]) -> None:
    snapshot = fuzz_snapshot(extra)
    result = build(snapshot, BuildSettings(), NOW)
    assert_good_still_routed(result)
    # The next build reuses what it may of this one's work, and makes the same.
    again = build(snapshot, BuildSettings(), NOW, cache=result.parse_cache)
    assert again.table == result.table and again.problems == result.problems


# What the store can hold: a mapping (it has a kind); anything inside it.
shapeless = st.dictionaries(
    st.sampled_from(["metadata", "spec", "data", "type", "ports", "endpoints", "addressType"]),
    values, max_size=5)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(KINDS), shapeless), min_size=1, max_size=5))
def test_objects_of_any_shape_never_break_the_build(extra: list[tuple[str, Any]]) -> None:
    snapshot = fuzz_snapshot(extra)
    result = build(snapshot, BuildSettings(), NOW)
    assert_good_still_routed(result)
    # The next build reuses what it may of this one's work, and makes the same.
    again = build(snapshot, BuildSettings(), NOW, cache=result.parse_cache)
    assert again.table == result.table and again.problems == result.problems


# Fields of an Ingress the builder reads, and a value of the wrong type for each.
READ_FIELDS: list[tuple[tuple[Any, ...], str]] = [
    (("spec", "rules"), "spec.rules"),
    (("spec", "rules", 0), "spec.rules[0]"),
    (("spec", "rules", 0, "host"), "spec.rules[0].host"),
    (("spec", "rules", 0, "http"), "spec.rules[0].http"),
    (("spec", "rules", 0, "http", "paths"), "spec.rules[0].http.paths"),
    (("spec", "rules", 0, "http", "paths", 0), "spec.rules[0].http.paths[0]"),
    (("spec", "rules", 0, "http", "paths", 0, "path"), "spec.rules[0].http.paths[0].path"),
    (("spec", "rules", 0, "http", "paths", 0, "backend"), "spec.rules[0].http.paths[0].backend"),
    (("spec", "rules", 0, "http", "paths", 0, "backend", "service"),
     "spec.rules[0].http.paths[0].backend.service"),
    (("spec", "rules", 0, "http", "paths", 0, "backend", "service", "port"),
     "spec.rules[0].http.paths[0].backend.service.port"),
    (("spec", "tls"), "spec.tls"),
    (("spec", "tls", 0), "spec.tls[0]"),
    (("spec", "tls", 0, "hosts"), "spec.tls[0].hosts"),
    (("spec", "tls", 0, "secretName"), "spec.tls[0].secretName"),
    (("spec", "defaultBackend"), "spec.defaultBackend"),
    (("metadata", "annotations"), "metadata.annotations"),
]
_TYPE_OF = {"spec.rules": list, "spec.tls": list, "spec.rules[0].http.paths": list,
            "spec.tls[0].hosts": list}


def _wrong_type(field: str) -> st.SearchStrategy[Any]:
    expected: type = _TYPE_OF.get(field, str if field.endswith(("host", "path", "secretName"))
                                  else dict)
    return values.filter(lambda v: v is not None and not isinstance(v, expected)
                         and not (expected is dict and v == {})
                         and not (expected is list and v == []))


@FUZZ
@given(st.sampled_from(READ_FIELDS).flatmap(
    lambda read: st.tuples(st.just(read), _wrong_type(read[1]))))
def test_a_wrongly_typed_field_is_reported_on_its_ingress(
    case: tuple[tuple[tuple[Any, ...], str], Any],
) -> None:
    (trail, field), value = case
    body = copy.deepcopy(TEMPLATES[0])
    _at(body, trail[:-1])[trail[-1]] = value
    result = build(fuzz_snapshot([("Ingress", body)]), BuildSettings(), NOW)
    assert_good_still_routed(result)
    reported = [p for p in result.problems if p.obj.namespace == "fuzz"]
    assert any(p.field.startswith(field) for p in reported), (field, value, result.problems)


def test_thousands_of_paths_and_unicode_hosts() -> None:
    paths = [path(f"/p{i}/{'é' * (i % 7)}", service="web",
                  path_type=("Exact", "Prefix", "ImplementationSpecific", "Bogus")[i % 4])
             for i in range(3000)]
    rules = [rule(host, *paths[n::8]) for n, host in enumerate(
        ["big.example", "ÄÖ.example", "*.wild.example", "", "xn--ls8h.example", "a" * 300,
         "UPPER.example", "x..y"])]
    body = ingress("big", rules, namespace="fuzz")
    result = build(fuzz_snapshot([("Ingress", body), *((t["kind"], t) for t in TEMPLATES[1:])]),
                   BuildSettings(), NOW)
    assert_good_still_routed(result)
    assert result.table.route("big.example", "/p8/é") is not None
    assert any("pathType" in p.field for p in result.problems)  # the "Bogus" ones
