"""Ingress host names: validated and lower-cased, as `spec.rules[].host` requires.

A host is a DNS-1123 subdomain, optionally with one leading `*.` label
(which then matches exactly one label). IP addresses are not hosts.
"""

from __future__ import annotations

import re
import socket

from ingress.build.fields import FieldError

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_MAX_LENGTH = 253


def parse_host(raw: str, field: str) -> str:
    """The lower-cased host ('' stays '' = any host), or FieldError saying why not."""
    host = raw.lower()
    if not host:
        return ""
    if canonical_ip(host) is not None:
        raise FieldError(field, f"{raw!r} is an IP address; a host must be a DNS name",
                         "InvalidHost")
    name = host[2:] if host.startswith("*.") else host
    if len(host) > _MAX_LENGTH:
        raise FieldError(field, f"{raw!r} is longer than {_MAX_LENGTH} characters", "InvalidHost")
    for label in name.split("."):
        if label == "*":
            raise FieldError(field, f"{raw!r}: a wildcard must be the whole first label",
                             "InvalidHost")
        if not _LABEL.fullmatch(label):
            raise FieldError(
                field,
                f"{raw!r} is not a DNS name (labels of a-z, 0-9 and '-', "
                "not starting or ending with '-')",
                "InvalidHost",
            )
    return host


def canonical_ip(text: str) -> str | None:
    """The IP address in its canonical text form, or None if `text` is not one.

    socket's C parsers: `ipaddress` costs ~50 µs per address, too much for
    the tens of thousands of endpoints of a large cluster.
    """
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, text))
        except OSError:
            continue
    return None


def wildcard_suffix(host: str) -> str | None:
    """'foo.com' for '*.foo.com' (the key of RoutingTable.wildcards), else None."""
    return host[2:] if host.startswith("*.") else None


def www_twin(host: str) -> str:
    """The other name of from-to-www-redirect: `www.foo.com` ↔ `foo.com`."""
    return host[4:] if host.startswith("www.") else f"www.{host}"
