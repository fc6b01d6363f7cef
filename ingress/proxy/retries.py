"""Whether a failed try goes on to another endpoint: nginx's proxy_next_upstream rules.

A try fails for a reason the proxy names (`connect_refused`, `read_timeout`,
`http_502`...), which falls under one of nginx's conditions (`error`,
`timeout`, `invalid_header`, `http_5xx`...). It is retried when the route's
policy lists that condition, tries and time are left, and the request can
be sent again: nothing of it reached the pod, or it is idempotent (or the
policy says `non_idempotent`) and its body was kept for a replay.
"""

from __future__ import annotations

from ingress.model import DEFAULT_RETRY, RetryPolicy
from ingress.proxy.http import IDEMPOTENT_METHODS

# Failure reason → (nginx's condition, whether the request may have reached the pod).
_REASONS: dict[str, tuple[str, bool]] = {
    "connect_refused": ("error", False),
    "connect_timeout": ("timeout", False),
    "tls": ("error", False),
    "reset": ("error", True),
    "invalid_response": ("invalid_header", True),
    "read_timeout": ("timeout", True),
    "send_timeout": ("timeout", True),
}


def condition(reason: str) -> tuple[str, bool]:
    """(nginx's condition, sent) of a failure reason; `http_502` and the like as they are."""
    return _REASONS.get(reason, (reason, True))


def policy_of(policy: RetryPolicy | None, max_retries: int) -> RetryPolicy:
    """A route's policy; without one, nginx's default conditions and --max-retries."""
    if policy is not None:
        return policy
    return RetryPolicy(DEFAULT_RETRY.conditions, max_retries + 1)


def may_retry(policy: RetryPolicy, reason: str, method: bytes, replayable: bool, tries: int,
              elapsed: float) -> bool:
    """Whether try number `tries` (1: the first), failed for `reason`, may have a next."""
    name, sent = condition(reason)
    if name not in policy.conditions:
        return False
    if policy.tries and tries >= policy.tries:
        return False
    if policy.timeout and elapsed >= policy.timeout:
        return False
    if not sent:
        return True
    return replayable and (method in IDEMPOTENT_METHODS or policy.non_idempotent)


def may_reconnect(policy: RetryPolicy, method: bytes, replayable: bool) -> bool:
    """A reused keep-alive connection the pod had closed: again on a fresh one, uncounted,
    unless that could send a non-idempotent request twice."""
    return replayable and (method in IDEMPOTENT_METHODS or policy.non_idempotent)
