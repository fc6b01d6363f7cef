"""Rate limits: limit-rps, limit-rpm, limit-burst-multiplier, limit-connections,
limit-allowlist (limit-whitelist), limit-rate, limit-rate-after.

As ingress-nginx reads them: the burst is the rate times the multiplier
(default 5), the zone is the Ingress, limit-rate and limit-rate-after are
kilobytes (nginx's `limit_rate {n}k`), 0 means no limit. The controller
ConfigMap gives the status codes of rejections (limit-req-status-code,
limit-conn-status-code) and limit-rate(-after) for Ingresses without.
"""

from __future__ import annotations

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model.filters.ratelimit import RateLimit, RequestRate, ResponseRate

DEFAULT_BURST_MULTIPLIER = 5


def _count(value: str) -> int:
    number = values.integer(value)
    if number < 0:
        raise values.InvalidValue(f"must be 0 or more, not {value!r}")
    return number


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    rps = annotations.parsed("limit-rps", _count) or 0
    rpm = annotations.parsed("limit-rpm", _count) or 0
    connections = annotations.parsed("limit-connections", _count) or 0
    multiplier = annotations.parsed("limit-burst-multiplier", _count)
    if multiplier is None:
        multiplier = DEFAULT_BURST_MULTIPLIER
    # limit-whitelist is the older name of limit-allowlist; when both are set the newer wins.
    whitelist = annotations.parsed("limit-whitelist", values.networks)
    allowlist = annotations.parsed("limit-allowlist", values.networks)
    allow = allowlist if allowlist is not None else whitelist
    rates = []
    if rps:
        rates.append(RequestRate(float(rps), float(rps * multiplier)))
    if rpm:
        rates.append(RequestRate(rpm / 60.0, float(rpm * multiplier)))
    config = annotations.lookups.config
    if rates or connections:
        zone = f"{annotations.obj.namespace}/{annotations.obj.name}"
        spec.filters.append(RateLimit(zone, tuple(rates), connections, allow or (),
                                      config.limit_req_status, config.limit_conn_status))
    # Without the annotation (or with a bad one), the ConfigMap's limit-rate(-after).
    rate = annotations.parsed("limit-rate", _count)
    after = annotations.parsed("limit-rate-after", _count)
    per_second = rate * 1024 if rate is not None else config.limit_rate
    if per_second:
        spec.filters.append(ResponseRate(
            per_second, after * 1024 if after is not None else config.limit_rate_after))
