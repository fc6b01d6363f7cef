"""enable-opentelemetry, opentelemetry-trust-incoming-span, opentelemetry-operation-name.

What ingress-nginx does (annotations/opentelemetry/main.go, template.go's
buildOpentelemetryForLocation, test/e2e/settings/opentelemetry.go): the
annotation turns tracing on or off over the ConfigMap's enable-opentelemetry;
trust and operation name are read only with it, and fall back to the
ConfigMap's keys.
"""

from __future__ import annotations

from typing import Any

import pytest
from build_objects import ingress, path, problem_fields, rule, run, spec_of, web

from ingress.build.annotations import parse_annotations
from ingress.model import TRACED, ObjectRef, Tracing
from ingress.model.filters.extauth import Template
from ingress.settings import BuildSettings

P = "nginx.ingress.kubernetes.io/"
OBJ = ObjectRef("Ingress", "default", "a")


@pytest.mark.parametrize(
    ("annotations", "tracing"),
    [
        ({}, TRACED),  # without --configmap, Portico traces every route
        ({"enable_opentelemetry": "false"}, None),
        ({"enable_opentelemetry": "true"}, TRACED),
        ({"enable_opentelemetry": "true", "opentelemetry_trust_incoming_span": "false"},
         Tracing(trust_incoming=False)),
        ({"enable_opentelemetry": "true", "opentelemetry_operation_name": "my-operation_1"},
         Tracing(operation_name=Template(("my-operation_1",)))),
        # Read only with enable-opentelemetry, as ingress-nginx reads them.
        ({"opentelemetry_trust_incoming_span": "false"}, TRACED),
        ({"enable_opentelemetry": "false", "opentelemetry_operation_name": "x"}, None),
    ],
)
def test_values(annotations: dict[str, str], tracing: Tracing | None) -> None:
    spec = spec_of(**annotations)
    assert spec.problems == [] and spec.tracing == tracing


@pytest.mark.parametrize(("name", "value"), [
    ("enable-opentelemetry", "on"),
    ("opentelemetry-operation-name", "HTTP $request_method"),  # plain names only
])
def test_bad_values_are_reported(name: str, value: str) -> None:
    spec = parse_annotations({P + "enable-opentelemetry": "true", P + name: value}, OBJ)
    assert [p.field for p in spec.problems] == [f'metadata.annotations["{P}{name}"]']


def controller(data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "controller", "namespace": "ingress-nginx"}, "data": data}


@pytest.mark.parametrize(
    ("data", "annotations", "tracing"),
    [
        ({}, {}, None),  # ingress-nginx's default: off
        ({"enable-opentelemetry": "true"}, {}, TRACED),
        ({"enable-opentelemetry": "true"}, {P + "enable-opentelemetry": "false"}, None),
        ({}, {P + "enable-opentelemetry": "true"}, TRACED),
        ({"opentelemetry-trust-incoming-span": "false",
          "opentelemetry-operation-name": "HTTP $request_method $uri"},
         {P + "enable-opentelemetry": "true"},
         Tracing(False, Template(("HTTP ", "request_method", " ", "uri", "")))),
        ({"enable-opentelemetry": "true", "opentelemetry-trust-incoming-span": "false"},
         {P + "enable-opentelemetry": "true", P + "opentelemetry-trust-incoming-span": "true",
          P + "opentelemetry-operation-name": "op"},
         Tracing(True, Template(("op",)))),
    ],
)
def test_the_configmap_sets_the_defaults(data: dict[str, str], annotations: dict[str, str],
                                         tracing: Tracing | None) -> None:
    result = run(ingress("a", [rule("foo.com", path("/"))], annotations=annotations), *web(),
                 controller(data), settings=BuildSettings(configmap="ingress-nginx/controller"))
    assert problem_fields(result) == []
    route = result.table.route("foo.com", "/")
    assert route is not None and route.tracing == tracing


def test_an_operation_name_with_an_unknown_variable_is_a_configmap_problem() -> None:
    result = run(ingress("a", [rule("foo.com", path("/"))]), *web(),
                 controller({"opentelemetry-operation-name": "$nonsense"}),
                 settings=BuildSettings(configmap="ingress-nginx/controller"))
    assert problem_fields(result) == [("ConfigMap ingress-nginx/controller",
                                       'data["opentelemetry-operation-name"]',
                                       "InvalidConfigMap")]
