"""Request mirroring: mirror-target, mirror-request-body, mirror-host.

As ingress-nginx's mirror location: every request of the Ingress (after
its access checks) is copied to `mirror-target`, a URL that may use nginx
variables (`https://test.env.com$request_uri`); the copy carries the body
unless `mirror-request-body` is off, and the Host `mirror-host` or the
target's host name. The answers are ignored.

One difference, on purpose: the client never waits for the mirror. nginx
reads the whole body before either request leaves and holds the client
until its mirrors answer; here the copy's body streams with the client's,
and a mirror that is slow or down loses copies (counted in
portico_mirror_requests) instead of throttling the application.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ingress.build.annotations import values
from ingress.build.annotations.buffering import on_off
from ingress.build.annotations.extauth import template
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model.filters.extauth import Template
from ingress.model.filters.mirror import Mirror


def target(value: str) -> Template:
    """An http(s) URL with a host, which may use nginx variables."""
    text = value.strip()
    # The host part, up to where variables may begin (as ingress-nginx reads it).
    parts = urlsplit(text.split("$", 1)[0])
    if parts.scheme not in ("http", "https") or not parts.hostname or any(
            c.isspace() for c in text):
        raise values.InvalidValue(f"must be an http(s) URL with a host, not {value!r}")
    return template(text)


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    url = annotations.parsed("mirror-target", target)
    body = annotations.parsed("mirror-request-body", on_off)
    host = annotations.parsed("mirror-host", values.host_and_port)
    if url is not None:
        spec.filters.append(Mirror(url=url, host=host, body=body is not False))
