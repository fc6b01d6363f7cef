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

from ingress.build.annotations import (
    access,
    access_log,
    affinity,
    aliases,
    balancing,
    basicauth,
    buffering,
    canary,
    clientcert,
    cors,
    errors,
    extauth,
    mirror,
    protocol,
    ratelimit,
    redirects,
    refused,
    responses,
    rewrite,
    satisfy,
    servertls,
    snippets,
    tracing,
    upstream,
)
from ingress.build.annotations.catalog import BY_NAME, Status
from ingress.build.annotations.spec import (
    PREFIX,
    AnnotationGroup,
    Annotations,
    Lookups,
    RouteSpec,
)
from ingress.model import ObjectRef

# Within a phase, filters keep this order: CORS preflights are answered before
# redirects, as ingress-nginx's location puts its CORS block before its `return`.
GROUPS: tuple[AnnotationGroup, ...] = (
    cors, redirects, rewrite, access, basicauth, extauth, satisfy, ratelimit, clientcert, upstream,
    buffering, protocol, responses, errors, access_log, balancing, snippets, affinity, canary,
    aliases, servertls, tracing, mirror, refused,
)

__all__ = ["GROUPS", "PREFIX", "Annotations", "Lookups", "RouteSpec", "parse_annotations"]


def parse_annotations(
    raw: Mapping[str, Any], obj: ObjectRef, lookups: Lookups | None = None
) -> RouteSpec:
    """What the annotations of `obj` ask of its routes, with a Problem per bad value.

    Routes start from the controller ConfigMap's defaults (`lookups.config`).
    """
    lookups = lookups if lookups is not None else Lookups()
    annotations = Annotations.of(raw, obj, lookups)
    spec = RouteSpec.for_config(lookups.config)
    if annotations.values:
        for group in GROUPS:
            group.parse(annotations, spec)
        _report_gaps(annotations)
    elif lookups.config.global_auth is not None or lookups.config.global_auth_denied:
        extauth.parse(annotations, spec)  # global-auth-url needs no annotation
    spec.problems = annotations.problems
    return spec


def _report_gaps(annotations: Annotations) -> None:
    """A problem for each ingress-nginx annotation that does nothing here (yet).

    A user moving from ingress-nginx must never lose an annotation silently.
    Refused ones are reported by their group, with the reason; those with a
    difference apply, and `portico check` tells the difference (catalog).
    """
    reported = {problem.field for problem in annotations.problems}
    for name in annotations.values:
        entry = BY_NAME.get(name)
        # Names not in the catalog are not ingress-nginx's: a typo, or another controller's.
        if entry is None or entry.status is not Status.NOT_YET:
            continue
        if annotations.field(name) not in reported:
            annotations.report(name, "is not supported by Portico yet and has no effect",
                               "UnsupportedAnnotation")
