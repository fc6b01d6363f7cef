"""The controller ConfigMap's keys for the guards: global-auth-*, no-auth-locations,
limit-req-status-code, limit-conn-status-code, limit-rate, limit-rate-after.

Read as ingress-nginx reads them. One difference, on purpose: a
global-auth-url that is set but cannot be used does not leave every
Ingress unauthenticated (ingress-nginx logs a warning and drops global
auth); the routes that would have used it answer 503, and the ConfigMap
key is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from ingress.build.annotations import extauth, values
from ingress.model.filters.extauth import ExternalAuth

T = TypeVar("T")


def optional(parse: Callable[[str], T]) -> Callable[[str], T | None]:
    """An empty value means the key is not set."""

    def read(value: str) -> T | None:
        return parse(value) if value.strip() else None

    return read


def status_code(value: str) -> int:
    code = values.whole_number(value)
    if not 400 <= code <= 599:
        raise values.InvalidValue(f"must be an HTTP status code 400-599, not {value!r}")
    return code


def locations(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def signin(value: str) -> str:
    """global-auth-signin as written; its redirect parameter is added with the URL's."""
    extauth.signin_url(value, extauth.DEFAULT_REDIRECT_PARAM)  # checks it
    return value.strip()


READINGS: dict[str, tuple[Callable[[str], Any], str]] = {
    "global-auth-url": (optional(extauth.auth_url), ""),
    "global-auth-method": (optional(extauth.method), ""),
    "global-auth-signin": (optional(signin), ""),
    "global-auth-signin-redirect-param": (extauth.redirect_param, "rd"),
    "global-auth-response-headers": (extauth.header_names, ""),
    "global-auth-request-redirect": (optional(extauth.template), ""),
    "global-auth-cache-key": (optional(extauth.template), ""),
    "global-auth-cache-duration": (extauth.cache_rules, extauth.DEFAULT_CACHE_DURATION),
    "global-auth-always-set-cookie": (values.boolean, "false"),
    "no-auth-locations": (locations, "/.well-known/acme-challenge"),
    "limit-req-status-code": (status_code, "503"),
    "limit-conn-status-code": (status_code, "503"),
    "limit-rate": (values.whole_number, "0"),
    "limit-rate-after": (values.whole_number, "0"),
}


def guard_config(v: Mapping[str, Any], invalid: Collection[str]) -> dict[str, Any]:
    """The ControllerConfig fields of the guards, from the keys' values (`invalid`: keys the
    ConfigMap set to something unusable)."""
    url = v["global-auth-url"]
    global_auth = None
    if url is not None:
        written = v["global-auth-signin"]
        cache_key = v["global-auth-cache-key"]
        global_auth = ExternalAuth(
            url=url,
            method=v["global-auth-method"],
            signin=(extauth.signin_url(written, v["global-auth-signin-redirect-param"])
                    if written is not None else None),
            response_headers=v["global-auth-response-headers"],
            request_redirect=v["global-auth-request-redirect"],
            cache_key=cache_key,
            cache_rules=v["global-auth-cache-duration"] if cache_key is not None else (),
            always_set_cookie=v["global-auth-always-set-cookie"],
        )
    return {
        "global_auth": global_auth,
        "global_auth_denied": "global-auth-url" in invalid,
        "no_auth_locations": v["no-auth-locations"],
        "limit_req_status": v["limit-req-status-code"],
        "limit_conn_status": v["limit-conn-status-code"],
        # Kilobytes, as nginx's `limit_rate {n}k`.
        "limit_rate": v["limit-rate"] * 1024,
        "limit_rate_after": v["limit-rate-after"] * 1024,
    }
