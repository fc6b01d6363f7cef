"""`nginx.ingress.kubernetes.io/*` annotations → a typed `RoutePolicy`.

Only the common, safe subset is understood. A bad value is reported
(naming the annotation) and ignored; the Ingress still routes. Snippet
annotations inject raw configuration into ingress-nginx; Portico has no
configuration to inject into, so they are refused outright. Other unknown
annotations are ignored silently, as ingress-nginx ignores annotations of
other controllers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from ingress.model import DEFAULT_POLICY, Balancer, ObjectRef, Problem, Redirect, RoutePolicy

PREFIX = "nginx.ingress.kubernetes.io/"

_SIZE = re.compile(r"(\d+)([kKmMgG]?)")
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_SECONDS = re.compile(r"\d+(\.\d+)?s?")
_HOST_PORT = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:\d{1,5})?")
_CAPTURE_GROUP = re.compile(r"\$\d")
_BALANCERS = {
    "round_robin": Balancer.ROUND_ROBIN,
    "least_conn": Balancer.LEAST_CONN,
    "random": Balancer.RANDOM,
    # ingress-nginx's EWMA prefers the endpoint with the least expected
    # latency; least outstanding requests is the closest thing Portico has.
    "ewma": Balancer.LEAST_CONN,
}


class _Invalid(ValueError):
    """A bad annotation value; the message says what was expected."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise _Invalid(f"must be true or false, not {value!r}")
    return lowered == "true"


def _size(value: str) -> int:
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise _Invalid(f"must be a size like 8m, 512k, 1g or 0 (unlimited), not {value!r}")
    return int(match[1]) * _SIZE_UNITS[match[2].lower()]


def _seconds(value: str) -> float:
    text = value.strip()
    if not _SECONDS.fullmatch(text) or float(text.rstrip("s")) <= 0:
        raise _Invalid(f"must be a positive number of seconds, not {value!r}")
    return float(text.rstrip("s"))


def _redirect_url(value: str) -> str:
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise _Invalid(f"must be an absolute http(s) URL, not {value!r}")
    return url


def _redirect_code(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or not 300 <= int(text) <= 308:
        raise _Invalid(f"must be a redirect status code 300-308, not {value!r}")
    return int(text)


def _absolute_path(value: str) -> str:
    path = value.strip()
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise _Invalid(f"must be a path starting with '/', not {value!r}")
    return path


def _rewrite_target(value: str) -> str:
    target = _absolute_path(value)
    if _CAPTURE_GROUP.search(target):
        raise _Invalid("capture groups ($1...) need use-regex, which Portico does not support")
    return target


def _source_ranges(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    ranges = []
    for item in value.split(","):
        text = item.strip()
        if not text:
            continue
        try:
            ranges.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise _Invalid(f"{text!r} is not an IP address or CIDR range") from None
    if not ranges:
        raise _Invalid("must list at least one CIDR range")
    return tuple(ranges)


def _host_header(value: str) -> str:
    host = value.strip()
    if not _HOST_PORT.fullmatch(host):
        raise _Invalid(f"must be a host name (optionally with :port), not {value!r}")
    return host


def _balancer(value: str) -> Balancer:
    balancer = _BALANCERS.get(value.strip())
    if balancer is None:
        raise _Invalid(f"must be one of {', '.join(_BALANCERS)}, not {value!r}")
    return balancer


def _snippet(value: str) -> Any:
    raise _Invalid("snippets are not supported (Portico has no configuration to inject into)")


def _use_regex(value: str) -> bool:
    if _bool(value):
        raise _Invalid("regular expression paths are not supported")
    return False


# Annotation (without prefix) → (parser, RoutePolicy field it sets). The policy
# field is None for values handled after all are parsed (redirect codes, balancer).
_PARSERS: dict[str, tuple[Callable[[str], Any], str | None]] = {
    "ssl-redirect": (_bool, "ssl_redirect"),
    "force-ssl-redirect": (_bool, "force_ssl_redirect"),
    "app-root": (_absolute_path, "app_root"),
    "rewrite-target": (_rewrite_target, "rewrite_target"),
    "use-regex": (_use_regex, None),
    "proxy-body-size": (_size, "max_body_size"),
    "proxy-connect-timeout": (_seconds, "connect_timeout"),
    "proxy-read-timeout": (_seconds, "read_timeout"),
    "upstream-vhost": (_host_header, "upstream_vhost"),
    "whitelist-source-range": (_source_ranges, None),
    "allowlist-source-range": (_source_ranges, None),
    "permanent-redirect": (_redirect_url, None),
    "permanent-redirect-code": (_redirect_code, None),
    "temporal-redirect": (_redirect_url, None),
    "temporal-redirect-code": (_redirect_code, None),
    "load-balance": (_balancer, None),
}


@dataclass(frozen=True, slots=True)
class Annotations:
    policy: RoutePolicy
    balancer: Balancer
    problems: tuple[Problem, ...] = field(default=())


def parse_annotations(raw: Mapping[str, Any], obj: ObjectRef) -> Annotations:
    values: dict[str, Any] = {}
    problems = []
    for key, value in raw.items():
        if not isinstance(key, str) or not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX) :]
        if name.endswith("-snippet"):
            parser: Callable[[str], Any] | None = _snippet
        else:
            parser = _PARSERS[name][0] if name in _PARSERS else None
        if parser is None:
            continue
        try:
            if not isinstance(value, str):
                raise _Invalid(f"must be a string, not {type(value).__name__}")
            values[name] = parser(value)
        except _Invalid as error:
            reason = "UnsupportedAnnotation" if parser is _snippet else "InvalidAnnotation"
            problems.append(Problem(obj, f'metadata.annotations["{key}"]', str(error), reason))
    if not values:
        return Annotations(DEFAULT_POLICY, Balancer.ROUND_ROBIN, tuple(problems))
    policy = RoutePolicy(
        **{attr: values[name] for name, (_, attr) in _PARSERS.items()
           if attr is not None and name in values}
    )
    ranges = values.get("allowlist-source-range", values.get("whitelist-source-range"))
    if ranges is not None:
        policy = replace(policy, allow_source_ranges=ranges)
    # ingress-nginx checks the temporal redirect first.
    if "temporal-redirect" in values:
        redirect = Redirect(values.get("temporal-redirect-code", 302), values["temporal-redirect"])
        policy = replace(policy, redirect=redirect)
    elif "permanent-redirect" in values:
        redirect = Redirect(values.get("permanent-redirect-code", 301),
                            values["permanent-redirect"])
        policy = replace(policy, redirect=redirect)
    return Annotations(policy, values.get("load-balance", Balancer.ROUND_ROBIN), tuple(problems))
