"""How requests travel upstream: body size, timeouts, retries, Host, HTTP version, Connection.

proxy-body-size, proxy-connect/-read/-send-timeout, proxy-next-upstream
(-tries, -timeout), upstream-vhost, proxy-http-version and
connection-proxy-header. Each annotation replaces one part of the route's
policy, which starts from the controller ConfigMap's defaults.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import DEFAULT_RETRY

_CONNECTION = re.compile(r"close|keep-alive")  # ingress-nginx accepts only these two


def _connection(value: str) -> bytes:
    text = value.strip()
    if not _CONNECTION.fullmatch(text):
        raise values.InvalidValue(f"must be close or keep-alive, not {value!r}")
    return text.encode()


def _retry(annotations: Annotations, spec: RouteSpec) -> None:
    conditions = annotations.parsed("proxy-next-upstream", values.next_upstream)
    tries = annotations.parsed("proxy-next-upstream-tries", values.whole_number)
    timeout = annotations.parsed("proxy-next-upstream-timeout", values.whole_seconds)
    if conditions is None and tries is None and timeout is None:
        return
    base = spec.upstream.retry or DEFAULT_RETRY
    if conditions is not None and conditions and annotations.lookups.config.retry_non_idempotent:
        conditions |= {"non_idempotent"}  # retry-non-idempotent adds it to every location
    policy = replace(
        base,
        conditions=base.conditions if conditions is None else conditions,
        tries=base.tries if tries is None else tries,
        timeout=base.timeout if timeout is None else timeout,
    )
    spec.upstream = replace(spec.upstream, retry=policy)


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    changes: dict[str, Any] = {
        "connect_timeout": annotations.parsed("proxy-connect-timeout", values.seconds),
        "read_timeout": annotations.parsed("proxy-read-timeout", values.seconds),
        "send_timeout": annotations.parsed("proxy-send-timeout", values.seconds),
        "max_body_size": annotations.parsed("proxy-body-size", values.size),
        "host": annotations.parsed("upstream-vhost", values.host_and_port),
        "http10": annotations.parsed("proxy-http-version", values.http_version),
        "connection": annotations.parsed("connection-proxy-header", _connection),
    }
    present = {name: value for name, value in changes.items() if value is not None}
    if present:
        spec.upstream = replace(spec.upstream, **present)
    _retry(annotations, spec)
