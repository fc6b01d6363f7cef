"""Rewrites and regex paths: use-regex, rewrite-target, x-forwarded-prefix.

As in ingress-nginx, `rewrite-target` replaces the whole path (not only
the matched part) with the target, whose `$1`…`$9` are the captures of the
path's regex; the query string is kept. Any Ingress of a host that uses
a regex or a rewrite turns every path of that host into a case-insensitive
regex location (build/locations.py). `x-forwarded-prefix` is only sent on
rewritten paths, where ingress-nginx sets it.

`enable-rewrite-log` is nginx's rewrite_log: each rewrite of the Ingress's
paths is logged (level INFO, nginx's notice) with the location's pattern,
the path it matched and what it became. Paths without a rewrite log
nothing, as nginx logs only its `rewrite` directives.
"""

from __future__ import annotations

import re

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model.filters.routing import RewritePath, Template

# ingress-nginx's RegexPathWithCapture: path characters and `$`.
_TARGET_CHARS = re.compile(r"[-._~a-zA-Z0-9/:$]*")
_REFERENCE = re.compile(r"\$(\d?)")


def template(value: str) -> Template:
    """Text with `$0`…`$9` capture references; any other `$` is refused."""
    text = value.strip()
    if not _TARGET_CHARS.fullmatch(text):
        raise values.InvalidValue(
            f"may only contain letters, digits, '-._~/:' and '$1'…'$9', not {value!r}"
        )
    parts: list[str | int] = []
    at = 0
    for found in _REFERENCE.finditer(text):
        if not found[1]:
            raise values.InvalidValue(
                f"'$' must start a capture group reference ($0…$9), in {value!r}"
            )
        if found.start() > at:
            parts.append(text[at:found.start()])
        parts.append(int(found[1]))
        at = found.end()
    if at < len(text):
        parts.append(text[at:])
    return Template(tuple(parts))


def _target(value: str) -> Template:
    text = value.strip()
    if not text.startswith(("/", "$")):
        raise values.InvalidValue(f"must start with '/' or a capture group ($1…), not {value!r}")
    return template(text)


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    if annotations.parsed("use-regex", values.boolean):
        spec.use_regex = True
    logged = bool(annotations.parsed("enable-rewrite-log", values.boolean))
    target = annotations.parsed("rewrite-target", _target)
    if target is None:
        return
    prefix = annotations.parsed("x-forwarded-prefix", template)
    spec.rewrite = RewritePath(target, prefix if prefix and prefix.parts else None, logged)
    spec.rewrite_target = str(annotations.values["rewrite-target"]).strip()
