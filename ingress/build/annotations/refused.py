"""Annotations Portico refuses (other than snippets): each is reported with the reason the
catalog gives, and the Ingress is served without it.

ModSecurity (enable-modsecurity, enable-owasp-core-rules,
modsecurity-transaction-id): Portico has no web application firewall.
Serving the route is what ingress-nginx's default does in effect: its
ModSecurity configuration only detects and logs (`SecRuleEngine
DetectionOnly`) unless a modsecurity-snippet, refused too, or a replaced
modsecurity.conf turns blocking on. An `enable-*: "false"`, the usual way to
opt one Ingress out of a ConfigMap-wide WAF, asks for nothing Portico lacks
and is not reported.
"""

from __future__ import annotations

from typing import Any

from ingress.build.annotations.catalog import BY_NAME, Status
from ingress.build.annotations.spec import Annotations, RouteSpec


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    for name, value in annotations.values.items():
        entry = BY_NAME.get(name)
        if entry is None or entry.status is not Status.REFUSED or name.endswith("-snippet"):
            continue  # snippets: reported by the snippets group
        if name.startswith("enable-") and _off(value):
            continue
        annotations.report(name, f"is refused: {entry.note}; the Ingress is served without it",
                           "UnsupportedAnnotation")


def _off(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "false"
