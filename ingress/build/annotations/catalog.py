"""Every ingress-nginx annotation, and what Portico does with it.

The one list `portico check`, the README's annotation reference and the
tests read. `listed`: in ingress-nginx's own annotations table (117
entries); the others are documented in its text or read by its code.
When a group starts supporting an annotation, its entry changes here, the
README table is regenerated (`make annotations-table`) and an end-to-end
test must name it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    SUPPORTED = "supported"
    DIFFERENT = "supported with a difference"
    REFUSED = "refused"
    NOT_YET = "not yet"


SUPPORTED = Status.SUPPORTED
DIFFERENT = Status.DIFFERENT
REFUSED = Status.REFUSED
NOT_YET = Status.NOT_YET


@dataclass(frozen=True, slots=True)
class Entry:
    """An annotation (without the nginx.ingress.kubernetes.io/ prefix) or a ConfigMap key."""

    name: str
    status: Status
    # DIFFERENT: what differs from ingress-nginx; REFUSED: why; NOT_YET: what it waits for.
    note: str = ""
    listed: bool = True


SNIPPET = "snippets inject configuration text; Portico has none to inject into"
WAF = ("Portico has no web application firewall (ModSecurity); ingress-nginx's default "
       "configuration of it only detects and logs")
WORKER_SHARE = (
    "with N worker processes each enforces 1/N (exact with one): a client whose "
    "requests all travel one connection gets 1/N"
)

CATALOG: tuple[Entry, ...] = (
    Entry("affinity", SUPPORTED),
    Entry("affinity-canary-behavior", SUPPORTED),
    Entry("affinity-mode", SUPPORTED),
    Entry("allowlist-source-range", SUPPORTED, listed=False),
    Entry("app-root", SUPPORTED),
    Entry("auth-always-set-cookie", SUPPORTED, listed=False),
    Entry("auth-cache-duration", SUPPORTED),
    Entry("auth-cache-key", DIFFERENT,
          "each worker process keeps its own cache (nginx's is shared): with N workers a "
          "response is fetched up to N times before every worker has it"),
    Entry("auth-keepalive", SUPPORTED),
    Entry("auth-keepalive-requests", SUPPORTED),
    Entry("auth-keepalive-share-vars", DIFFERENT,
          "Portico has no nginx variables to share with the subrequest: accepted, ignored"),
    Entry("auth-keepalive-timeout", SUPPORTED),
    Entry("auth-method", SUPPORTED, listed=False),
    Entry("auth-proxy-set-headers", SUPPORTED),
    Entry("auth-realm", SUPPORTED),
    Entry("auth-request-redirect", SUPPORTED, listed=False),
    Entry("auth-response-headers", SUPPORTED, listed=False),
    Entry("auth-secret", SUPPORTED),
    Entry("auth-secret-type", SUPPORTED),
    Entry("auth-signin", SUPPORTED, listed=False),
    Entry("auth-signin-redirect-param", SUPPORTED, listed=False),
    Entry("auth-snippet", REFUSED, SNIPPET),
    Entry("auth-tls-error-page", SUPPORTED),
    Entry("auth-tls-match-cn", SUPPORTED),
    Entry("auth-tls-pass-certificate-to-upstream", SUPPORTED),
    Entry("auth-tls-secret", SUPPORTED),
    Entry("auth-tls-verify-client", SUPPORTED),
    Entry("auth-tls-verify-depth", SUPPORTED),
    Entry("auth-type", SUPPORTED),
    Entry("auth-url", SUPPORTED),
    Entry("backend-protocol", DIFFERENT,
          "AUTO_HTTP and FCGI answer 503 with a problem; an HTTP/1.1 request to a GRPC/GRPCS "
          "route is answered 426 (come back over HTTP/2)"),
    Entry("canary", DIFFERENT,
          "applies at the canary's host and path only; ingress-nginx also splits every "
          "other path routed to the mainline's Service"),
    Entry("canary-by-cookie", SUPPORTED),
    Entry("canary-by-header", SUPPORTED),
    Entry("canary-by-header-pattern", DIFFERENT,
          "RE2 syntax; a pattern RE2 cannot read is reported when the Ingress is read"),
    Entry("canary-by-header-value", SUPPORTED),
    Entry("canary-weight", SUPPORTED),
    Entry("canary-weight-total", SUPPORTED),
    Entry("client-body-buffer-size", SUPPORTED),
    Entry("configuration-snippet", REFUSED, SNIPPET),
    Entry("connection-proxy-header", SUPPORTED),
    Entry("cors-allow-credentials", SUPPORTED),
    Entry("cors-allow-headers", SUPPORTED),
    Entry("cors-allow-methods", SUPPORTED),
    Entry("cors-allow-origin", SUPPORTED),
    Entry("cors-expose-headers", SUPPORTED),
    Entry("cors-max-age", SUPPORTED),
    Entry("custom-headers", DIFFERENT,
          "a ConfigMap of another namespace needs allow-cross-namespace-resources "
          "(ingress-nginx does not check)"),
    Entry("custom-http-errors", DIFFERENT,
          "without default-backend or --default-backend-service nothing is intercepted; "
          "the error request has no body"),
    Entry("default-backend", SUPPORTED),
    Entry("denylist-source-range", SUPPORTED),
    Entry("disable-proxy-intercept-errors", SUPPORTED, listed=False),
    Entry("enable-access-log", SUPPORTED),
    Entry("enable-cors", SUPPORTED),
    Entry("enable-global-auth", SUPPORTED),
    Entry("enable-modsecurity", REFUSED, WAF),
    Entry("enable-opentelemetry", SUPPORTED),
    Entry("enable-owasp-core-rules", REFUSED, WAF),
    Entry("enable-rewrite-log", DIFFERENT,
          "each rewrite is an INFO line of Portico's log (pattern, path, what it became), "
          "not a notice in nginx's error log"),
    Entry("fastcgi-index", NOT_YET,
          "with backend-protocol FCGI, which answers 503: FastCGI needs a client of its own "
          "in the data plane", listed=False),
    Entry("fastcgi-params-configmap", NOT_YET,
          "with backend-protocol FCGI, which answers 503: FastCGI needs a client of its own "
          "in the data plane", listed=False),
    Entry("force-ssl-redirect", SUPPORTED),
    Entry("from-to-www-redirect", SUPPORTED),
    Entry("http2-push-preload", DIFFERENT,
          "accepted without effect: browsers dropped HTTP/2 server push and nginx 1.25.1 "
          "ignores http2_push_preload (so ingress-nginx, on nginx 1.27, does too)"),
    Entry("limit-allowlist", SUPPORTED, listed=False),
    Entry("limit-burst-multiplier", DIFFERENT, WORKER_SHARE, listed=False),
    Entry("limit-connections", DIFFERENT, WORKER_SHARE),
    Entry("limit-rate", SUPPORTED, listed=False),
    Entry("limit-rate-after", SUPPORTED, listed=False),
    Entry("limit-rpm", DIFFERENT, WORKER_SHARE, listed=False),
    Entry("limit-rps", DIFFERENT, WORKER_SHARE),
    Entry("limit-whitelist", SUPPORTED, listed=False),
    Entry("load-balance", DIFFERENT,
          "also least_conn and random; ewma learns per worker process; chash and sticky_* "
          "come from upstream-hash-by and affinity"),
    Entry("mirror-host", SUPPORTED),
    Entry("mirror-request-body", DIFFERENT,
          "the copy's body streams as the client sends it: the request is not buffered "
          "whole first, as nginx's mirror_request_body makes it"),
    Entry("mirror-target", DIFFERENT,
          "the client never waits for the mirror (nginx holds it until the copy is "
          "answered): a mirror 256 KiB of body behind, or past 128 copies on their way per "
          "worker, loses copies; a target without a path gets the request's target"),
    Entry("modsecurity-snippet", REFUSED, SNIPPET),
    Entry("modsecurity-transaction-id", REFUSED, WAF),
    Entry("opentelemetry-operation-name", SUPPORTED, listed=False),
    Entry("opentelemetry-trust-incoming-span", SUPPORTED),
    Entry("permanent-redirect", SUPPORTED),
    Entry("permanent-redirect-code", SUPPORTED),
    Entry("preserve-trailing-slash", SUPPORTED),
    Entry("proxy-body-size", SUPPORTED),
    Entry("proxy-buffer-size", DIFFERENT,
          "sizes the memory buffers (with proxy-buffers-number) "
          "but does not bound the response head"),
    Entry("proxy-buffering", SUPPORTED),
    Entry("proxy-buffers-number", SUPPORTED),
    Entry("proxy-busy-buffers-size", DIFFERENT,
          "checked as nginx checks it, without effect: the client socket's 64 KiB write "
          "buffer plays that part"),
    Entry("proxy-connect-timeout", SUPPORTED),
    Entry("proxy-cookie-domain", SUPPORTED),
    Entry("proxy-cookie-path", SUPPORTED),
    Entry("proxy-http-version", SUPPORTED),
    Entry("proxy-max-temp-file-size", SUPPORTED),
    Entry("proxy-next-upstream", DIFFERENT,
          "another try goes to an endpoint not tried yet: one pod is never tried twice"),
    Entry("proxy-next-upstream-timeout", DIFFERENT,
          "counted from the request's arrival, not from its first try"),
    Entry("proxy-next-upstream-tries", DIFFERENT,
          "another try goes to an endpoint not tried yet: one pod is never tried twice"),
    Entry("proxy-read-timeout", SUPPORTED),
    Entry("proxy-redirect-from", SUPPORTED),
    Entry("proxy-redirect-to", SUPPORTED),
    Entry("proxy-request-buffering", SUPPORTED),
    Entry("proxy-send-timeout", SUPPORTED),
    Entry("proxy-ssl-ciphers", SUPPORTED),
    Entry("proxy-ssl-name", DIFFERENT,
          "unset, the name checked is the Service's <name>.<namespace>.svc "
          "(nginx checks its internal upstream name)"),
    Entry("proxy-ssl-protocols", SUPPORTED),
    Entry("proxy-ssl-secret", SUPPORTED),
    Entry("proxy-ssl-server-name", SUPPORTED),
    Entry("proxy-ssl-verify", SUPPORTED),
    Entry("proxy-ssl-verify-depth", SUPPORTED),
    Entry("relative-redirects", SUPPORTED, listed=False),
    Entry("rewrite-target", DIFFERENT,
          "references are capture groups $0-$9 only, not other nginx variables"),
    Entry("satisfy", SUPPORTED),
    Entry("server-alias", DIFFERENT,
          "DNS names and *. wildcards; nginx's regex server names are refused"),
    Entry("server-snippet", REFUSED, SNIPPET),
    Entry("service-upstream", SUPPORTED),
    Entry("session-cookie-change-on-failure", SUPPORTED),
    Entry("session-cookie-conditional-samesite-none", SUPPORTED),
    Entry("session-cookie-domain", SUPPORTED),
    Entry("session-cookie-expires", SUPPORTED),
    Entry("session-cookie-max-age", SUPPORTED),
    Entry("session-cookie-name", SUPPORTED),
    Entry("session-cookie-path", SUPPORTED),
    Entry("session-cookie-samesite", SUPPORTED),
    Entry("session-cookie-secure", SUPPORTED),
    Entry("ssl-ciphers", SUPPORTED),
    Entry("ssl-passthrough", SUPPORTED),
    Entry("ssl-prefer-server-ciphers", SUPPORTED),
    Entry("ssl-redirect", SUPPORTED),
    Entry("stream-snippet", REFUSED, SNIPPET),
    Entry("temporal-redirect", SUPPORTED),
    Entry("temporal-redirect-code", SUPPORTED),
    Entry("upstream-hash-by", DIFFERENT,
          "variables $request_uri, $remote_addr, $host, $uri, $http_*, $cookie_* and $arg_* only"),
    Entry("upstream-hash-by-subset", SUPPORTED, listed=False),
    Entry("upstream-hash-by-subset-size", SUPPORTED, listed=False),
    Entry("upstream-vhost", SUPPORTED),
    Entry("use-port-in-redirects", SUPPORTED, listed=False),
    Entry("use-regex", DIFFERENT,
          "RE2 syntax (no lookaround or backreferences); a path RE2 cannot read is "
          "reported and skipped"),
    Entry("whitelist-source-range", SUPPORTED),
    Entry("x-forwarded-prefix", SUPPORTED),
)

BY_NAME = {entry.name: entry for entry in CATALOG}


def reference_table(entries: Sequence[Entry], noun: str, columns: Sequence[str],
                    cells: Callable[[Entry], list[str]] = lambda entry: []) -> str:
    """A README reference: a count by status, then a row per entry (name, status, the
    `cells` of the middle `columns`, note); † marks entries not `listed`."""
    counts = {status: 0 for status in Status}
    rows = [f"| {noun} | status | {''.join(c + ' | ' for c in columns)}notes |",
            "|---|---|" + "---|" * len(columns) + "---|"]
    for entry in entries:
        counts[entry.status] += 1
        name = entry.name if entry.listed else f"{entry.name} †"
        middle = "".join(cell + " | " for cell in cells(entry))
        rows.append(f"| `{name}` | {entry.status.value} | {middle}{entry.note} |")
    summary = ", ".join(f"{count} {status.value}" for status, count in counts.items())
    return "\n".join([f"{len(entries)} {noun}s: {summary}.", "", *rows, ""])


def markdown_table() -> str:
    """The README's annotation reference, generated from CATALOG."""
    return reference_table(CATALOG, "annotation", ())
