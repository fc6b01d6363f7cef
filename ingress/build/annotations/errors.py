"""custom-http-errors and default-backend: another Service answers for the route.

As in ingress-nginx, `default-backend` names a Service of the Ingress's
namespace (its first port) that answers the codes of `custom-http-errors`
and every request the route's own Service cannot serve; it counts only
while it has endpoints. Without it, intercepted codes go to the
controller's default backend (`--default-backend-service`).

`disable-proxy-intercept-errors` passes the pod's own answers with the
Ingress's codes to the client as they are (nginx's proxy_intercept_errors
off); default-backend still serves what the Service cannot. It applies to
the Ingress's custom-http-errors; the ConfigMap key of the same name to the
ConfigMap's.
"""

from __future__ import annotations

import re

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.build.fields import FieldError

_CODES = re.compile(r"(?:[45]\d{2},?)*")  # ingress-nginx's validator
_SERVICE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def error_codes(value: str) -> frozenset[int]:
    text = value.replace(" ", "")
    if not _CODES.fullmatch(text):
        raise values.InvalidValue(f"must be comma-separated 4xx/5xx codes, not {value!r}")
    return frozenset(int(code) for code in text.split(",") if code)


service_name = values.matching(_SERVICE, "a Service name")


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    codes = annotations.parsed("custom-http-errors", error_codes)
    passed = annotations.parsed("disable-proxy-intercept-errors", values.boolean)
    if codes is not None:
        spec.error_codes = frozenset() if passed else codes
    service = annotations.parsed("default-backend", service_name)
    resolver = annotations.lookups.backends
    if service is None or resolver is None:
        return
    try:
        backend = resolver.first_port(annotations.obj.namespace, service)
    except FieldError as error:
        annotations.report("default-backend", error.message)
        return
    if resolver.has_endpoints(backend):
        spec.error_backend = backend
    else:
        annotations.report("default-backend", f"Service {backend.namespace}/{service} has no "
                           "ready endpoints: ignored until it has")
