"""Cookie session affinity: affinity, affinity-mode, affinity-canary-behavior, session-cookie-*.

The `session-cookie-*` annotations only count with `affinity: cookie`,
as in ingress-nginx. The cookie is ingress-nginx's own (same name, value
format and attributes), so sessions it pinned survive the switch.
"""

from __future__ import annotations

import re

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import SessionCookie

_DOMAIN = re.compile(r"\.?[A-Za-z0-9]([-.A-Za-z0-9]*[A-Za-z0-9])?")
_PATH = re.compile(r"/[-._~A-Za-z0-9/:,?&=]*")


_domain = values.matching(_DOMAIN, "a domain name")
_path = values.matching(_PATH, "a path starting with '/'")


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    behavior = annotations.parsed("affinity-canary-behavior", values.one_of("sticky", "legacy"))
    if behavior == "legacy":
        spec.sticky_canary = False
    if annotations.parsed("affinity", values.one_of("cookie")) is None:
        return
    mode = annotations.parsed("affinity-mode", values.one_of("balanced", "persistent"))
    if spec.use_regex and "session-cookie-path" not in annotations.values:
        annotations.report("session-cookie-path", "should be set when use-regex is true: "
                           "the cookie's Path would be the path regex", "MissingAnnotation")
    spec.session_cookie = SessionCookie(
        name=annotations.parsed("session-cookie-name", values.cookie_name) or "INGRESSCOOKIE",
        persistent=mode == "persistent",
        path=annotations.parsed("session-cookie-path", _path),
        domain=annotations.parsed("session-cookie-domain", _domain),
        samesite=annotations.parsed("session-cookie-samesite",
                                    values.one_of("None", "Lax", "Strict")),
        conditional_samesite_none=bool(
            annotations.parsed("session-cookie-conditional-samesite-none", values.boolean)),
        expires=annotations.parsed("session-cookie-expires", values.integer),
        max_age=annotations.parsed("session-cookie-max-age", values.integer),
        secure=bool(annotations.parsed("session-cookie-secure", values.boolean)),
        change_on_failure=bool(
            annotations.parsed("session-cookie-change-on-failure", values.boolean)),
    )
