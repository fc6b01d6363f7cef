"""`nginx.ingress.kubernetes.io/*` annotations → what an Ingress asks of its routes.

One module per annotation group, each a pure parser from annotation text
to typed filters and settings (`RouteSpec`). A bad value is reported as a
Problem naming the annotation and ignored; the Ingress still routes.
Annotation text is never turned into configuration text: snippets are
refused outright. Annotations no group knows are ignored silently, as
ingress-nginx ignores those of other controllers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingress.build.annotations import access, balancing, redirects, rewrite, snippets, upstream
from ingress.build.annotations.spec import PREFIX, AnnotationGroup, Annotations, RouteSpec
from ingress.model import ObjectRef

GROUPS: tuple[AnnotationGroup, ...] = (redirects, rewrite, access, upstream, balancing, snippets)

__all__ = ["GROUPS", "PREFIX", "Annotations", "RouteSpec", "parse_annotations"]


def parse_annotations(raw: Mapping[str, Any], obj: ObjectRef) -> RouteSpec:
    """What the annotations of `obj` ask of its routes, with a Problem per bad value."""
    annotations = Annotations.of(raw, obj)
    spec = RouteSpec()
    if annotations.values:
        for group in GROUPS:
            group.parse(annotations, spec)
    spec.problems = annotations.problems
    return spec
