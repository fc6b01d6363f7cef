"""One request/response pair travelling through the proxy.

The client protocol parses the request into an `Exchange`; the upstream
connection answers it. Neither imports the other at load time: the upstream
side talks back to the exchange's `conn`, a `Forwarder` (forward.py) whose
methods every client protocol implements; typed as that class, the compiled
modules call them directly rather than by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl

from ingress.model import Backend, Endpoint, Route
from ingress.model.filters.base import ResponseFilter
from ingress.model.filters.core import HeaderEdits
from ingress.observability.stats import NO_ROUTE, RouteLabels
from ingress.observability.tracing import TraceContext

if TYPE_CHECKING:
    from ingress.proxy.filters.ratelimit import Throttle
    from ingress.proxy.forward import Forwarder
    from ingress.proxy.request_body import BufferedBody
    from ingress.proxy.subrequests import StreamedBody
    from ingress.proxy.upstream import UpstreamConnection

# A request header as parsed: (name, lower-cased name, value).
Header = tuple[bytes, bytes, bytes]

# Bodies up to this size are kept until the response starts, so a request
# can be replayed on another endpoint when its connection fails.
REPLAY_LIMIT: Final = 64 * 1024


class Exchange:
    __slots__ = (
        "answered",
        "backend",
        "body",
        "body_bytes",
        "body_done",
        "chunked_request",
        "client_ip",
        "close_after",
        "conn",
        "connection",
        "content_length",
        "copies",
        "endpoint",
        "error_page",
        "forwarded",
        "forwarded_host",
        "fresh",
        "head_only",
        "header_edits",
        "headers",
        "headers_at",
        "host",
        "host_header",
        "http10",
        "method",
        "on_end",
        "outbox",
        "path",
        "replay",
        "request_bytes",
        "request_id",
        "request_id_generated",
        "response_filters",
        "response_head",
        "response_headers",
        "response_started",
        "resume_at",
        "route",
        "sent_at",
        "sent_bytes",
        "started_at",
        "status",
        "target",
        "throttle",
        "timed",
        "trace",
        "tried",
        "upgrade",
        "upstream",
        "upstream_started",
        "url",
    )

    def __init__(self, conn: Forwarder, method: bytes, url: bytes, started_at: float) -> None:
        self.conn = conn
        self.method = method
        self.url = url
        self.target = url  # what goes upstream: the client's target unless a filter rewrote it
        self.path = ""  # canonical: what routes are matched on
        self.host = ""  # the routing name: lower case, no port, no trailing dot
        self.host_header = b""  # as received (or the absolute-form authority)
        self.headers: list[Header] = []
        self.content_length = -1
        self.connection = b""  # the Connection header
        self.http10 = False
        self.client_ip = ""  # the one trusted client address (client_address.py)
        # x-forwarded-for, x-real-ip, -proto and -port lines, and a trusted x-forwarded-host.
        self.forwarded = b""
        self.forwarded_host = b""
        self.route: Route | None = None
        self.backend: Backend | None = None
        # Request header changes from the route's filters; None for nearly every request.
        self.header_edits: list[HeaderEdits] | None = None
        self.response_filters: tuple[ResponseFilter, ...] = ()
        # Where a route's filters go on after one of them suspended the request.
        self.resume_at = 0
        # Holds the response back to a rate (limit-rate); None for nearly every request.
        self.throttle: Throttle | None = None
        # Run once when the exchange ends, however it ends; None for nearly every request.
        self.on_end: list[Callable[[], None]] | None = None
        self.started_at = started_at
        # Loop times: the answering upstream attempt began (before connecting, if it had
        # to), the request went out on its connection, its response headers arrived.
        self.upstream_started = 0.0
        self.sent_at = 0.0
        self.headers_at = 0.0
        self.request_bytes = 0  # request line and headers, as received (metrics, access log)
        self.sent_bytes = 0  # response bytes written to the client (access log)
        self.response_head = 0  # of which the status line and headers
        self.request_id = b""  # X-Request-ID: the client's, or generated
        self.request_id_generated = False
        self.trace: TraceContext | None = None  # with --otlp-endpoint only
        self.head_only = method == b"HEAD"
        self.upgrade = False
        self.chunked_request = False
        self.close_after = False
        # Upstream-encoded bytes (head, then body) not yet written to an upstream.
        self.outbox: list[bytes] = []
        # Everything written so far, while it stays small enough to resend.
        self.replay: list[bytes] | None = []
        self.body_bytes = 0
        self.body_done = False
        # The whole body, read before anything goes upstream (proxy-request-buffering).
        self.body: BufferedBody | None = None
        # Mirrors' copies of the body, fed as it is read; None for nearly every request.
        self.copies: list[StreamedBody] | None = None
        self.response_started = False
        self.response_headers = b""  # extra header lines for the client (HSTS)
        # The response went out before the request body ended: drop the rest of the body.
        self.answered = False
        self.status = 0
        self.endpoint: Endpoint | None = None
        self.upstream: UpstreamConnection | None = None
        self.tried: list[tuple[str, int]] = []
        # The balancer learns from this response's time (EWMA): report it when done.
        self.timed = False
        # Set after a reused keep-alive connection failed: the retry opens a new one.
        self.fresh = False
        # Now asking the error Service of custom-http-errors instead of the route's pods.
        self.error_page = False

    def keep_for_replay(self, data: bytes) -> None:
        if self.replay is not None:
            if self.body_bytes > REPLAY_LIMIT and self.body is None:
                self.replay = None
            else:
                self.replay.append(data)

    def route_labels(self) -> RouteLabels:
        """The metric labels the request is booked to: its route's, naming the canary when
        the canary served it; all empty without a route."""
        route = self.route
        if route is None:
            return NO_ROUTE
        canary = route.canary
        # choose_backend hands out the canary's own Backend object: identity, no comparison.
        if canary is not None and self.backend is canary.backend:
            return route.canary_labels
        return route.labels

    # --- the request as route conditions read it (ingress.model.RequestView)

    @property
    def secure(self) -> bool:
        return self.conn.listener.tls

    def header(self, lname: bytes) -> bytes | None:
        for _, name, value in self.headers:
            if name == lname:
                return value
        return None

    def query_value(self, name: str) -> str | None:
        query_at = self.url.find(b"?")
        if query_at < 0:
            return None
        for key, value in parse_qsl(self.url[query_at + 1 :].decode("latin-1"),
                                    keep_blank_values=True):
            if key == name:
                return value
        return None

    def at_end(self, callback: Callable[[], None]) -> None:
        """Run `callback` when this exchange ends (answered, failed or abandoned)."""
        if self.on_end is None:
            self.on_end = [callback]
        else:
            self.on_end.append(callback)

    def end(self) -> None:
        callbacks, self.on_end = self.on_end, None
        for callback in callbacks or ():
            callback()

    def add_header_edits(self, edits: HeaderEdits) -> None:
        if self.header_edits is None:
            self.header_edits = [edits]
        else:
            self.header_edits.append(edits)
