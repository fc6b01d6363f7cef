"""Tracing per Ingress: enable-opentelemetry, opentelemetry-trust-incoming-span,
opentelemetry-operation-name.

As ingress-nginx reads them: `enable-opentelemetry` turns tracing on or off
for the Ingress's routes, over the ConfigMap's key of the same name; the
other two are read only when it is set (true), and fall back to the
ConfigMap's keys. An operation name here is a plain name (letters, digits,
`_` and `-`, ingress-nginx's validator); the ConfigMap's may use nginx
variables. Spans are exported only when Portico runs with `--otlp-endpoint`.
"""

from __future__ import annotations

import re

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import Tracing
from ingress.model.filters.extauth import Template

_NAME = re.compile(r"[A-Za-z0-9_\-]*")


def operation_name(value: str) -> str:
    text = value.replace(" ", "")
    if not _NAME.fullmatch(text):
        raise values.InvalidValue(f"may only hold letters, digits, '_' and '-', not {value!r}")
    return text


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    enabled = annotations.parsed("enable-opentelemetry", values.boolean)
    if enabled is None:
        return
    if not enabled:
        spec.tracing = None
        return
    defaults = annotations.lookups.config.tracing_defaults
    trust = annotations.parsed("opentelemetry-trust-incoming-span", values.boolean)
    name = annotations.parsed("opentelemetry-operation-name", operation_name)
    spec.tracing = Tracing(defaults.trust_incoming if trust is None else trust,
                           Template((name,)) if name else defaults.operation_name)
