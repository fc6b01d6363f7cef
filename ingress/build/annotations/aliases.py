"""server-alias: more host names served exactly like the Ingress's hosts.

As in ingress-nginx, an alias never takes a name that some Ingress uses
as a host, and a host takes the aliases of the oldest Ingress that gives
it any. Names are DNS names or `*.` wildcards (nginx's regex server names
are not supported).
"""

from __future__ import annotations

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.build.fields import FieldError
from ingress.build.hosts import parse_host


def _aliases(value: str) -> tuple[str, ...]:
    names: set[str] = set()
    for item in value.split(","):
        text = item.strip()
        if not text:
            continue
        try:
            names.add(parse_host(text, "server-alias"))
        except FieldError as error:
            raise values.InvalidValue(error.message) from None
    return tuple(sorted(names))


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    spec.aliases = annotations.parsed("server-alias", _aliases) or ()
