"""How a backend picks an endpoint: load-balance, upstream-hash-by(-subset, -subset-size).

`upstream-hash-by` takes precedence over `load-balance`, and cookie
affinity (affinity.py) over both, as in ingress-nginx; the builder picks
the backend's algorithm from what is set.
"""

from __future__ import annotations

import re

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import Balancer, HashKey, HashPart, HashSource

_BALANCERS = {
    "round_robin": Balancer.ROUND_ROBIN,
    "least_conn": Balancer.LEAST_CONN,
    "random": Balancer.RANDOM,
    "ewma": Balancer.EWMA,
}
# ingress-nginx accepts these names too, but they only work with the
# configuration of upstream-hash-by or affinity.
_CONFIGURED_ELSEWHERE = {
    "chash": "upstream-hash-by", "chashsubset": "upstream-hash-by-subset",
    "sticky_balanced": "affinity", "sticky_persistent": "affinity-mode",
}
# ingress-nginx's hash key characters; `${name}` or `$name` are variables.
_HASH_CHARS = re.compile(r"[-A-Za-z0-9_${}]*")
_VARIABLE = re.compile(r"\$\{([0-9A-Za-z_]+)\}|\$([0-9A-Za-z_]+)")
_NAMED = {"http_": HashSource.HEADER, "cookie_": HashSource.COOKIE, "arg_": HashSource.ARG}
_PLAIN = {
    "request_uri": HashSource.REQUEST_URI,
    "remote_addr": HashSource.REMOTE_ADDR,
    "host": HashSource.HOST,
    "uri": HashSource.URI,
}
DEFAULT_SUBSET_SIZE = 3


def load_balance(value: str) -> Balancer:
    name = value.strip()
    balancer = _BALANCERS.get(name)
    if balancer is not None:
        return balancer
    if name in _CONFIGURED_ELSEWHERE:
        raise values.InvalidValue(
            f"{name!r} is chosen by setting {_CONFIGURED_ELSEWHERE[name]}, not load-balance"
        )
    raise values.InvalidValue(f"must be one of {', '.join(_BALANCERS)}, not {value!r}")


def _variable(name: str) -> HashPart:
    source = _PLAIN.get(name)
    if source is not None:
        return HashPart(source)
    for prefix, named in _NAMED.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            rest = name[len(prefix):]
            # nginx's $http_x_y reads the header X-Y.
            return HashPart(named, rest.replace("_", "-").lower() if named is HashSource.HEADER
                            else rest)
    raise values.InvalidValue(
        f"${name} is not one of $request_uri, $remote_addr, $host, $uri, $http_NAME, "
        "$cookie_NAME, $arg_NAME"
    )


def hash_key(value: str) -> HashKey:
    text = value.strip()
    if not _HASH_CHARS.fullmatch(text):
        raise values.InvalidValue(
            f"may only contain letters, digits, '-', '_' and $variables, not {value!r}"
        )
    parts: list[HashPart] = []
    at = 0
    for found in _VARIABLE.finditer(text):
        if found.start() > at:
            parts.append(HashPart(HashSource.TEXT, text[at:found.start()]))
        parts.append(_variable(found[1] or found[2]))
        at = found.end()
    if at < len(text):
        parts.append(HashPart(HashSource.TEXT, text[at:]))
    return HashKey(text, tuple(parts))


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    balancer = annotations.parsed("load-balance", load_balance)
    if balancer is not None:
        spec.balancer = balancer
    key = annotations.parsed("upstream-hash-by", hash_key)
    subset = annotations.parsed("upstream-hash-by-subset", values.boolean)
    size = annotations.parsed("upstream-hash-by-subset-size", values.positive_integer)
    if key is None or not key.parts:
        return
    if subset:
        key = HashKey(key.text, key.parts, size or DEFAULT_SUBSET_SIZE)
    spec.hash_key = key
