"""Rewrites: rewrite-target (without capture groups) and use-regex (refused for now)."""

from __future__ import annotations

import re

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model.filters.core import Rewrite

_CAPTURE_GROUP = re.compile(r"\$\d")


def _target(value: str) -> str:
    target = values.absolute_path(value)
    if _CAPTURE_GROUP.search(target):
        raise values.InvalidValue(
            "capture groups ($1...) need use-regex, which Portico does not support"
        )
    return target


def _use_regex(value: str) -> bool:
    if values.boolean(value):
        raise values.InvalidValue("regular expression paths are not supported")
    return False


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    annotations.parsed("use-regex", _use_regex)
    target = annotations.parsed("rewrite-target", _target)
    if target is not None:
        spec.filters.append(Rewrite(target))
