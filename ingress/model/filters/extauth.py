"""External authentication (nginx's auth_request, the oauth2-proxy pattern).

Before a request goes upstream, the proxy asks an authentication service
with a subrequest carrying the request's headers: 2xx lets it through,
401 and 403 refuse it (401 may become a redirect to a sign-in page),
anything else, a timeout or an unreachable service answers 500.

URLs and header values may use nginx variables (`$host`,
`$escaped_request_uri`, `$http_x_user`, ...), which the proxy fills in
from each request: `Template`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ingress.model.filters.base import Filter, Phase, ResponseFilter

# The nginx variables a Template may use, as ingress-nginx's configuration defines them.
VARIABLES = frozenset((
    "host", "http_host", "best_http_host", "scheme", "pass_access_scheme", "request_uri",
    "escaped_request_uri", "uri", "args", "query_string", "is_args", "request_method",
    "remote_addr", "server_port", "pass_server_port", "server_name", "req_id", "request",
))
# ...and whole families of them: a request header, cookie or query argument by name.
VARIABLE_PREFIXES = ("http_", "cookie_", "arg_")


@dataclass(frozen=True, slots=True)
class Template:
    """Text with nginx variables: `parts` alternate literal text and a variable name
    (even indexes literal, odd indexes variable), e.g. ("https://", "host", "/in")."""

    parts: tuple[str, ...]

    @property
    def variables(self) -> tuple[str, ...]:
        return self.parts[1::2]

    @property
    def literal(self) -> str | None:
        """The text, when it has no variable."""
        return self.parts[0] if len(self.parts) == 1 else None


@dataclass(frozen=True, slots=True)
class CacheRule:
    """Keep responses of `status` (None: any status) for `seconds` (auth-cache-duration)."""

    status: int | None
    seconds: float


@dataclass(frozen=True, slots=True)
class ExternalAuth(Filter):
    PHASE: ClassVar[Phase] = Phase.ACCESS
    url: Template
    method: str | None = None  # None: GET, and no X-Original-URI / X-Scheme headers
    # Where a 401 redirects to (the rd= parameter already added), or None: the 401 itself.
    signin: Template | None = None
    # Copied from the service's answer to the request that goes upstream (names as written).
    response_headers: tuple[str, ...] = ()
    request_redirect: Template | None = None  # X-Auth-Request-Redirect; None: $request_uri
    # Set on the subrequest (auth-proxy-set-headers).
    proxy_set_headers: tuple[tuple[str, Template], ...] = ()
    cache_key: Template | None = None  # None: no caching
    cache_rules: tuple[CacheRule, ...] = ()
    # Set-Cookie of the service on every response, not only successful ones.
    always_set_cookie: bool = False
    # Idle keep-alive connections kept to the service, and for how long.
    keepalive: int = 32
    keepalive_requests: int = 1000
    keepalive_timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class AuthCookies(ResponseFilter):
    """The authentication service's Set-Cookie lines, added to one request's response
    when its status is a success or redirect (or always)."""

    cookies: tuple[bytes, ...]
    always: bool = False
