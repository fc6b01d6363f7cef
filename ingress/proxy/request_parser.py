"""An HTTP/1.1 client's requests as llhttp (httptools) parses them, in its callbacks.

Framing is checked while the head is parsed, in the one pass over its
headers: llhttp refuses most malformed messages itself, and what it lets
through that RFC 9112 or nginx refuses (a second or invalid Host, a
transfer coding other than exactly `chunked`, HTTP/1.0 with one, headers
with underscores) is refused or dropped here. A complete head becomes an
`Exchange`, started at once or queued behind the one in flight; its body
streams to the upstream as it is parsed.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import httptools

from ingress.proxy.client_flow import (
    PAUSE_CONNECTING,
    PAUSE_DONE,
    PAUSE_QUEUE,
    ClientFlow,
)
from ingress.proxy.exchange import Exchange, Header
from ingress.proxy.h2.handover import H2Upgrade, h2c_upgrade
from ingress.proxy.http import LAST_CHUNK, chunk
from ingress.proxy.router import BadRequest
from ingress.proxy.target import host_name

# Request bytes buffered before an upstream connection exists, before reading pauses.
_CONNECT_BUFFER: Final = 256 * 1024

# Headers whose values decide the framing and routing of a request, noted as they are parsed.
_FRAMING: Final[frozenset[bytes]] = frozenset(
    (b"host", b"content-length", b"transfer-encoding", b"connection", b"x-request-id")
)

# `int in bytes` is a memchr; `bytes in bytes` first fails (and clears) an int conversion,
# which costs ten times as much in CPython 3.11.
_UNDERSCORE: Final = ord("_")


class StopParsing(Exception):
    """Raised in a parser callback to leave the rest of the data unparsed."""


class RequestParser(ClientFlow):
    __slots__ = (
        "connection",
        "content_length",
        "current",
        "h2c_upgrade",
        "head_bytes",
        "head_size",
        "headers",
        "host_header",
        "host_raw",
        "host_routed",
        "hosts",
        "in_head",
        "parser",
        "queue",
        "reading_done",
        "request_id",
        "requests_left",
        "transfer_encoding",
        "url",
    )

    def __init__(self) -> None:
        super().__init__()
        self.parser = httptools.HttpRequestParser(self)
        self.current: Exchange | None = None  # being parsed
        self.queue: deque[Exchange] = deque()  # parsed, waiting for the one being answered
        self.requests_left = -1  # that this connection may still carry (keep-alive-requests)
        self.reading_done = False  # nothing more is parsed: framing was lost, or queue full
        self.in_head = False
        self.head_bytes = 0  # raw bytes received while in a request head
        self.head_size = 0  # the parsed head's size, as the 431 limit counts it
        self.url = b""
        self.headers: list[Header] = []
        # Framing headers of the request being parsed.
        self.hosts = 0
        self.host_header = b""
        # The last Host validated on this connection, and its routing name.
        self.host_raw = b"\x00"  # no Host value can be this: llhttp refuses NUL
        self.host_routed = ""
        self.content_length = -1
        self.transfer_encoding = b""
        self.connection = b""
        self.request_id = b""
        self.h2c_upgrade: H2Upgrade | None = None  # accepted, answered at the head's end

    def on_message_begin(self) -> None:
        self.in_head = True
        self.head_bytes = self.head_size = self.hosts = 0
        self.url = self.transfer_encoding = self.connection = self.request_id = b""
        self.headers = []
        self.content_length = -1
        dp = self.dp
        if self.active is None:
            self.deadline = dp.loop.time() + dp.settings.client_header_timeout

    def on_url(self, url: bytes) -> None:
        self.head_size += len(url)
        url = self.url + url
        if len(url) > self.dp.settings.max_url_size:
            raise BadRequest(414)
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        # Trailers come here too: they count with the head (on_message_complete checks),
        # land in a list nothing reads, and are not forwarded, as nginx does.
        self.head_size += len(name) + len(value) + 4
        lname = name.lower()
        if _UNDERSCORE in lname:
            # nginx's `underscores_in_headers off`: CGI-style backends would read
            # `X_Forwarded_For` as the `X-Forwarded-For` the proxy sets.
            return
        self.headers.append((name, lname, value))
        if lname in _FRAMING:
            if lname == b"host":
                self.hosts += 1
                self.host_header = value
            elif lname == b"content-length":
                self.content_length = int(value)  # llhttp accepts only one, and only digits
            elif lname == b"transfer-encoding":
                # A second Transfer-Encoding line fails the `chunked` check below.
                self.transfer_encoding = b"repeated" if self.transfer_encoding else value
            elif lname == b"connection":
                self.connection = value
            else:
                self.request_id = value

    def on_headers_complete(self) -> None:
        self.in_head = False
        if self.closed:
            raise StopParsing()
        dp = self.dp
        if self.head_size > dp.settings.max_header_size:
            raise BadRequest(431)
        parser = self.parser
        keep_alive = parser.should_keep_alive()
        http10 = False
        # Kept alive with no Connection header: HTTP/1.1, llhttp's only 1.x above 1.0.
        if not keep_alive or self.connection:
            version = parser.get_http_version()
            http10 = version == "1.0"
            if not http10 and version != "1.1":
                raise BadRequest(400 if version < "1" else 505)  # HTTP/0.9, HTTP/2.0 as text
        coding = self.transfer_encoding
        if coding and (http10 or coding.strip().lower() != b"chunked"):
            # RFC 9112 §6.1: a coding after (or instead of) chunked leaves the length unknown.
            raise BadRequest(400)
        hosts = self.hosts
        if hosts != 1 and (hosts or not http10):
            raise BadRequest(400)  # RFC 9112 §3.2: exactly one Host in HTTP/1.1
        method = parser.get_method()
        exchange = Exchange(self, method, self.url, dp.loop.time())
        # "METHOD SP target SP HTTP/1.1 CRLF", the header lines, the blank line.
        exchange.request_bytes = len(method) + self.head_size + 14
        exchange.headers = self.headers
        exchange.request_id = self.request_id
        if hosts:
            raw = self.host_header
            if raw != self.host_raw:  # a keep-alive client sends the same Host every time
                self.host_routed = host_name(raw)
                self.host_raw = raw
            exchange.host = self.host_routed
            exchange.host_header = raw
        exchange.content_length = self.content_length
        exchange.connection = self.connection
        exchange.chunked_request = bool(coding)
        exchange.http10 = http10
        exchange.client_ip = self.client_ip
        exchange.forwarded = self.forwarded_fixed
        exchange.response_headers = self.listener.response_headers
        exchange.upgrade = parser.should_upgrade()
        self.requests_left -= 1
        exchange.close_after = (not keep_alive or dp.closing or exchange.upgrade
                                or self.requests_left == 0)
        if exchange.upgrade and self.active is None and not self.listener.tls:
            upgrade = h2c_upgrade(exchange)
            if upgrade is not None:
                self.h2c_upgrade = upgrade  # answered once the parser stops at the head's end
                return
        self.current = exchange
        if self.active is None:
            self.active = exchange
            if coding or self.content_length > 0:
                self.deadline = exchange.started_at + dp.settings.client_body_timeout
            self._start(exchange)
        elif len(self.queue) < dp.settings.max_pipelined_requests:
            self.queue.append(exchange)
            self._pause(PAUSE_QUEUE)
            self.headers = []  # its trailers, if any, must not join the headers it will send
        else:
            # Too many requests queued: answer those, then close; the client
            # retries the rest on a new connection (RFC 9112 §9.3.2).
            self.current = None
            (self.queue[-1] if self.queue else self.active).close_after = True
            self.reading_done = True
            self._pause(PAUSE_DONE)
            raise StopParsing()

    def on_body(self, body: bytes) -> None:
        exchange = self.current
        if exchange is None:
            return
        if exchange.copies is not None:
            for copy in exchange.copies:
                copy.add(body)
        if exchange.answered:
            return
        exchange.body_bytes += len(body)
        limit = self._body_limit(exchange.route)
        if limit and exchange.body_bytes > limit:
            self._abandon_upstream(exchange)
            raise BadRequest(413)
        if exchange.body is not None:
            exchange.body.add(body)
            return
        data = chunk(body) if exchange.chunked_request else body
        self._forward_body(exchange, data)

    def on_message_complete(self) -> None:
        exchange = self.current
        if exchange is None:
            return
        if exchange.chunked_request:
            if self.head_size > self.dp.settings.max_header_size:
                raise BadRequest(431)  # the trailers made the head too large
            if exchange.copies is not None:
                for copy in exchange.copies:
                    copy.end()  # a copy of a body with a length ends with its last byte
        self.current = None
        exchange.body_done = True
        if exchange.answered:
            self._next(exchange)
        elif exchange.body is not None:
            exchange.body.finish()
        elif exchange.chunked_request:
            self._forward_body(exchange, LAST_CHUNK)

    def _next(self, exchange: Exchange) -> None:
        """Serve the next pipelined request, or wait for one (the connection decides)."""
        raise NotImplementedError

    def _forward_body(self, exchange: Exchange, data: bytes) -> None:
        if (not self._body_to_upstream(exchange, data) and exchange is self.active
                and exchange.body_bytes > _CONNECT_BUFFER):
            self._pause(PAUSE_CONNECTING)
