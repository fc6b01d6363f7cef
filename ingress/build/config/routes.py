"""What the controller ConfigMap's keys set for routes whose Ingress does not say:
relative-redirects, use-port-in-redirects, http-redirect-code,
preserve-trailing-slash, disable-proxy-intercept-errors,
enable-opentelemetry, opentelemetry-trust-incoming-span,
opentelemetry-operation-name.

Each has an annotation of the same name that decides for one Ingress.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingress.model import Tracing


def route_config(v: Mapping[str, Any]) -> dict[str, Any]:
    """The ControllerConfig fields these keys decide, from their values."""
    return {
        "relative_redirects": v["relative-redirects"],
        "port_in_redirects": v["use-port-in-redirects"],
        "redirect_code": v["http-redirect-code"],
        # ingress-nginx turns proxy_intercept_errors off for the ConfigMap's codes only:
        # an Ingress's own custom-http-errors are intercepted unless its annotation says.
        "error_codes": frozenset() if v["disable-proxy-intercept-errors"]
        else v["custom-http-errors"],
        "tracing_defaults": Tracing(v["opentelemetry-trust-incoming-span"],
                                    v["opentelemetry-operation-name"]),
        "tracing": v["enable-opentelemetry"],
    }
