"""The controller ConfigMap's add-headers and proxy-set-headers.

Each names another ConfigMap (`namespace/name`; a bare name is in the
controller ConfigMap's namespace) whose entries ingress-nginx sets on every
response (`more_set_headers`) or on every request it sends upstream
(`proxy_set_header`). proxy-set-headers values may use nginx variables, as
there; add-headers values are set as written, and one that uses a variable
is reported and left out. A ConfigMap that is missing adds nothing, as in
ingress-nginx, and is reported; both are watched, so edits apply at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ingress.build.annotations import extauth, values
from ingress.build.annotations.responses import object_reference
from ingress.build.config.controller import ControllerConfig
from ingress.build.config.guards import optional
from ingress.build.fields import FieldError, mapping
from ingress.model import ObjectRef, Problem
from ingress.model.filters.core import HeaderEdits, ResponseHeaders
from ingress.model.filters.extauth import Template
from ingress.model.filters.headers import ProxySetHeaders
from ingress.store import Body, Key

READINGS = {
    "add-headers": (optional(object_reference), ""),
    "proxy-set-headers": (optional(object_reference), ""),
}


def with_headers(config: ControllerConfig, config_maps: Mapping[Key, Body], ref: ObjectRef,
                 problems: list[Problem], referenced: set[Key]) -> ControllerConfig:
    """`config` with the filters of add-headers and proxy-set-headers, their ConfigMaps read."""
    found: dict[str, tuple[tuple[bytes, Template], ...]] = {}
    for key in READINGS:
        reference = config.header_config_maps.get(key)
        if reference is None:
            continue
        namespace, name = reference
        named = (namespace or ref.namespace, name)
        referenced.add(named)
        found[key] = _headers(key, named, config_maps.get(named), ref, problems)
    sets = found.get("proxy-set-headers", ())
    adds = tuple((name, (value.literal or "").encode("latin-1"))
                 for name, value in found.get("add-headers", ()))  # literals (_headers)
    if not sets and not adds:
        return config
    return replace(
        config,
        filters=config.filters + ((ProxySetHeaders(sets),) if sets else ()),
        response_filters=config.response_filters
        + ((ResponseHeaders(HeaderEdits(set=adds)),) if adds else ()),
    )


def _headers(key: str, named: Key, body: Body | None, ref: ObjectRef,
             problems: list[Problem]) -> tuple[tuple[bytes, Template], ...]:
    where = f'data["{key}"]'
    if body is None:
        problems.append(Problem(ref, where, f"ConfigMap {named[0]}/{named[1]} not found: no "
                                "headers are set", "InvalidConfigMap"))
        return ()
    try:
        data: Mapping[str, Any] = mapping(body.get("data"), "data")
    except FieldError as error:
        problems.append(Problem(ref, where, f"ConfigMap {named[0]}/{named[1]}: {error.message}",
                                "InvalidConfigMap"))
        return ()
    headers = []
    for header, value in sorted(data.items()):
        try:
            if not values.header_name(header) or not isinstance(value, str):
                raise values.InvalidValue("is not a header with a text value")
            template = extauth.template(value)
            if key == "add-headers" and template.literal is None:
                raise values.InvalidValue("uses nginx variables, which add-headers does not "
                                          "support in Portico")
        except values.InvalidValue as error:
            problems.append(Problem(ref, where, f"ConfigMap {named[0]}/{named[1]}: header "
                                    f"{header!r} {error}; left out", "InvalidConfigMap"))
            continue
        headers.append((header.lower().encode("latin-1"), template))
    return tuple(headers)
