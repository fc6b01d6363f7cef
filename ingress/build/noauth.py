"""no-auth-locations: paths whose routes skip authentication.

ingress-nginx leaves basic and external authentication off the locations
whose path starts with one of them (by default `/.well-known/acme-challenge`,
so that cert-manager can add its HTTP-01 path to an Ingress that asks for
authentication; the controller ConfigMap's no-auth-locations changes the
list). IP lists still apply.
"""

from __future__ import annotations

from ingress.model.filters.base import Filter
from ingress.model.filters.basicauth import BasicAuth
from ingress.model.filters.core import RequestHeaders
from ingress.model.filters.extauth import ExternalAuth
from ingress.model.filters.satisfy import SatisfyAny

DEFAULT_NO_AUTH_LOCATIONS = ("/.well-known/acme-challenge",)
_AUTH = (BasicAuth, ExternalAuth)


def without_auth(filters: tuple[Filter, ...]) -> tuple[Filter, ...]:
    """`filters` less authentication (and basic auth's removal of Authorization)."""
    kept: list[Filter] = []
    for flt in filters:
        if isinstance(flt, SatisfyAny):
            kept += (check for check in flt.checks if not isinstance(check, _AUTH))
        elif not isinstance(flt, _AUTH) and not _strips_authorization(flt):
            kept.append(flt)
    return tuple(kept)


def skips_auth(path: str, locations: tuple[str, ...]) -> bool:
    return any(path.startswith(location) for location in locations)



def _strips_authorization(flt: Filter) -> bool:
    return isinstance(flt, RequestHeaders) and b"authorization" in flt.edits.remove
