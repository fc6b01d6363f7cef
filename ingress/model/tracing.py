"""Which routes are traced (enable-opentelemetry), and how their spans start and are named."""

from __future__ import annotations

from dataclasses import dataclass

from ingress.model.filters.extauth import Template


@dataclass(frozen=True, slots=True)
class Tracing:
    """A route's requests are traced when Portico exports spans (`--otlp-endpoint`).

    `trust_incoming`: a request's `traceparent` is the parent of Portico's
    span (opentelemetry-trust-incoming-span); otherwise every request starts
    a trace of its own. `operation_name`: the server span's name, with nginx
    variables (opentelemetry-operation-name); None: "METHOD route-path".
    """

    trust_incoming: bool = True
    operation_name: Template | None = None


TRACED = Tracing()
