"""satisfy: `any` lets a request through when one access check allows it (nginx's satisfy).

The checks are those of nginx's access phase, in its order: the IP lists,
basic authentication, external authentication. With `all` (the default)
each must allow. Either way, a route with auth-signin sends every 401 to
sign in, its basic authentication's too (ingress-nginx's `error_page 401`).
"""

from __future__ import annotations

from dataclasses import replace

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model.filters.basicauth import BasicAuth
from ingress.model.filters.core import SourceRanges
from ingress.model.filters.extauth import ExternalAuth
from ingress.model.filters.satisfy import SatisfyAny

# nginx runs its access handlers in this order.
_ORDER = (SourceRanges, BasicAuth, ExternalAuth)


def _satisfy(value: str) -> str:
    if value not in ("any", "all"):
        raise values.InvalidValue(f"must be any or all, not {value!r}; all applies")
    return value


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    signin = next((f.signin for f in spec.filters if isinstance(f, ExternalAuth)), None)
    if signin is not None:
        spec.filters = [replace(f, signin=signin) if isinstance(f, BasicAuth) else f
                        for f in spec.filters]
    if annotations.parsed("satisfy", _satisfy) != "any":
        return
    checks = sorted((f for f in spec.filters if isinstance(f, _ORDER)),
                    key=lambda f: _ORDER.index(type(f)))
    if len(checks) < 2:
        return  # one check: any is all
    spec.filters = [f for f in spec.filters if not isinstance(f, _ORDER)]
    spec.filters.append(SatisfyAny(tuple(checks)))
