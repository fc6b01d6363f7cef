"""Snippet annotations inject raw nginx configuration; Portico refuses every one of them.

Portico has no configuration text to inject into, and ingress-nginx's
snippets were the way into several of its CVEs.
"""

from __future__ import annotations

from ingress.build.annotations.spec import Annotations, RouteSpec


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    for name in annotations.values:
        if name.endswith("-snippet"):
            annotations.report(
                name,
                "snippets are not supported (Portico has no configuration to inject into)",
                "UnsupportedAnnotation",
            )
