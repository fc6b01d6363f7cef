"""Malformed and hostile requests, and what a proxy in front of a recording backend does with them.

`CORPUS` holds the bytes an attacker sends and the status Portico answers;
`UPSTREAM_CORPUS` the responses a broken or hostile upstream sends.
`RecordingBackend` is the upstream: it counts every byte and every complete
request that reaches it, so a test can say "nothing reached the backend",
and answers `/respond/NAME` with the bytes of `UPSTREAM_CORPUS[NAME]`.
`send` writes the bytes on a fresh connection and reads the answer until
the proxy closes (or a deadline passes).

The e2e test (tests/e2e/test_edge_corpus.py) runs the corpus against
Portico; `python -m benchmarks.edge_compare` runs the same bytes against
nginx configured like ingress-nginx, and tabulates both.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import httptools

HOST = "edge.test"
# The allow-listed location: only 10.0.0.0/8 may reach it, and the tests connect from 127.0.0.1.
ADMIN = "/admin"


@dataclass(frozen=True, slots=True)
class Attack:
    name: str
    wire: bytes
    status: int  # Portico's answer; 0 = the connection is closed without one
    # The flaw comes more than a read after a valid head, which Portico has streamed
    # by then: the backend may see bytes of it, never a complete request.
    streamed: bool = False


def _get(target: str, *headers: str, version: str = "HTTP/1.1") -> bytes:
    lines = [f"GET {target} {version}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _host(target: str, *headers: str) -> bytes:
    return _get(target, f"Host: {HOST}", *headers)


def _post(headers: str, body: bytes) -> bytes:
    return f"POST / HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n\r\n".encode() + body


_CHUNKED = "Transfer-Encoding: chunked"

CORPUS: tuple[Attack, ...] = (
    # --- one path, many spellings: all must reach the allow-listed /admin rules (403)
    Attack("double slash before an allow-listed path", _host("//admin/x"), 403),
    Attack("dot-dot segment into an allow-listed path", _host("/x/../admin/x"), 403),
    Attack("dot segment", _host("/./admin/x"), 403),
    Attack("percent-encoded letter", _host("/%61dmin/x"), 403),
    Attack("encoded slash %2f", _host("/admin%2fx"), 403),
    Attack("encoded slash in a dot-dot segment", _host("/x/..%2fadmin/x"), 403),
    Attack("encoded dots %2e%2e", _host("/x/%2e%2e/admin"), 403),
    Attack("Host with a trailing dot", _get("/admin/x", f"Host: {HOST}."), 403),
    Attack("Host in upper case", _get("/admin/x", f"Host: {HOST.upper()}"), 403),
    Attack("absolute-form target, routed by its authority",
           _get(f"http://{HOST}/%61dmin/x", "Host: other.test"), 403),
    # --- targets
    Attack("path climbing above the root", _host("/../etc/passwd"), 400),
    Attack("encoded dots climbing above the root", _host("/%2e%2e/%2e%2e/etc/passwd"), 400),
    Attack("encoded NUL", _host("/a%00.html"), 400),
    Attack("raw NUL in the target", _host("/a\x00b"), 400),
    Attack("control character in the target", _host("/a\x01b"), 400),
    Attack("raw non-ASCII byte in the target", _host("/caf\xe9"), 400),
    Attack("invalid percent escape", _host("/a%zzb"), 400),
    Attack("target longer than 8 KiB", _host("/" + "a" * 9000), 414),
    Attack("asterisk-form on GET", _host("*"), 400),
    Attack("authority-form (CONNECT)", b"CONNECT edge.test:443 HTTP/1.1\r\nHost: edge.test\r\n\r\n",
           400),
    Attack("absolute-form with another scheme", _get("ftp://edge.test/x", f"Host: {HOST}"), 400),
    Attack("absolute-form with user information",
           _get(f"http://evil@{HOST}/x", f"Host: {HOST}"), 400),
    # --- Host
    Attack("HTTP/1.1 without Host", _get("/x"), 400),
    Attack("two Host headers", _get("/x", f"Host: {HOST}", "Host: other.test"), 400),
    Attack("empty Host", _get("/x", "Host: "), 400),
    Attack("Host with a space", _get("/x", "Host: edge test"), 400),
    Attack("Host with a slash", _get("/x", f"Host: {HOST}/admin"), 400),
    Attack("Host with user information", _get("/x", f"Host: evil@{HOST}"), 400),
    Attack("Host with a bad port", _get("/x", f"Host: {HOST}:80x"), 400),
    # --- request line and version
    Attack("HTTP/0.9 request", b"GET /\r\n\r\n", 400),
    Attack("HTTP/2.0 as text", _host("/x").replace(b"HTTP/1.1", b"HTTP/2.0"), 505),
    Attack("HTTP/1.2", _host("/x").replace(b"HTTP/1.1", b"HTTP/1.2"), 400),
    Attack("lower-case method", _host("/x").replace(b"GET", b"get"), 400),
    Attack("space after the version", _host("/x").replace(b"HTTP/1.1", b"HTTP/1.1 "), 400),
    # --- header syntax
    Attack("obs-fold (a continuation line)", _host("/x", "X-A: 1", " folded"), 400),
    Attack("bare LF line endings", f"GET /x HTTP/1.1\nHost: {HOST}\n\n".encode(), 400),
    Attack("bare CR inside the head", f"GET /x HTTP/1.1\r\nHost: {HOST}\rX: y\r\n\r\n".encode(),
           400),
    Attack("space before the colon", _host("/x", "Transfer-Encoding : chunked"), 400),
    Attack("space inside a header name", _host("/x", "X Y: z"), 400),
    Attack("header without a colon", _host("/x", "X-Broken"), 400),
    Attack("NUL in a header value", _host("/x", "X-A: a\x00b"), 400),
    Attack("control character in a header value", _host("/x", "X-A: a\x01b"), 400),
    Attack("DEL in a header value", _host("/x", "X-A: a\x7fb"), 400),
    Attack("whitespace before the first header", b"GET /x HTTP/1.1\r\n Host: edge.test\r\n\r\n",
           400),
    # --- message framing (request smuggling)
    Attack("Content-Length and Transfer-Encoding (CL.TE)",
           _post(f"Content-Length: 4\r\n{_CHUNKED}", b"0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n"),
           400),
    Attack("Transfer-Encoding and Content-Length (TE.CL)",
           _post(f"{_CHUNKED}\r\nContent-Length: 4", b"0\r\n\r\n"), 400),
    Attack("two equal Content-Lengths", _post("Content-Length: 3\r\nContent-Length: 3", b"abc"),
           400),
    Attack("two different Content-Lengths",
           _post("Content-Length: 3\r\nContent-Length: 30", b"abc"), 400),
    Attack("Content-Length list", _post("Content-Length: 3, 3", b"abc"), 400),
    Attack("signed Content-Length", _post("Content-Length: +3", b"abc"), 400),
    Attack("negative Content-Length", _post("Content-Length: -1", b""), 400),
    Attack("Content-Length overflowing 64 bits",
           _post("Content-Length: 99999999999999999999999", b"abc"), 400),
    Attack("Transfer-Encoding: gzip, chunked", _post("Transfer-Encoding: gzip, chunked",
                                                     b"0\r\n\r\n"), 400),
    Attack("Transfer-Encoding: chunked, gzip", _post("Transfer-Encoding: chunked, gzip",
                                                     b"0\r\n\r\n"), 400),
    Attack("Transfer-Encoding: gzip alone", _post("Transfer-Encoding: gzip", b"abc"), 400),
    Attack("unknown transfer coding", _post("Transfer-Encoding: xchunked", b"0\r\n\r\n"), 400),
    Attack("two Transfer-Encoding lines",
           _post(f"{_CHUNKED}\r\n{_CHUNKED}", b"0\r\n\r\n"), 400),
    Attack("vertical tab before chunked", _post("Transfer-Encoding:\x0bchunked", b"0\r\n\r\n"),
           400),
    Attack("quoted chunked", _post('Transfer-Encoding: "chunked"', b"0\r\n\r\n"), 400),
    Attack("HTTP/1.0 with Transfer-Encoding",
           f"POST / HTTP/1.0\r\nHost: {HOST}\r\n{_CHUNKED}\r\n\r\n0\r\n\r\n".encode(), 400),
    Attack("chunk size overflowing 64 bits", _post(_CHUNKED, b"fffffffffffffffff1\r\na\r\n"),
           400),
    Attack("chunk size with 0x", _post(_CHUNKED, b"0x3\r\nabc\r\n0\r\n\r\n"), 400),
    Attack("negative chunk size", _post(_CHUNKED, b"-3\r\nabc\r\n0\r\n\r\n"), 400),
    Attack("chunk longer than its size", _post(_CHUNKED, b"3\r\nabcdef\r\n0\r\n\r\n"), 400),
    Attack("bare LF after a chunk size", _post(_CHUNKED, b"3\nabc\n0\n\n"), 400),
    Attack("control character in a chunk extension",
           _post(_CHUNKED, b"3;x=\x01\r\nabc\r\n0\r\n\r\n"), 400),
    Attack("1 MiB chunk extension", _post(_CHUNKED, b"1;" + b"e" * (1 << 20) + b"\r\na\r\n"), 431,
           streamed=True),
    Attack("trailer flood (10,000 trailer lines)",
           _post(_CHUNKED, b"1\r\na\r\n0\r\n" + b"X-T: 1\r\n" * 10000 + b"\r\n"), 431,
           streamed=True),
    Attack("one 1 MiB trailer", _post(_CHUNKED, b"1\r\na\r\n0\r\nX-T: " + b"t" * (1 << 20)), 431,
           streamed=True),
    # --- sizes
    Attack("header flood (5,000 headers)", _host("/x", *(f"X-{i}: {i}" for i in range(5000))),
           431),
    Attack("one 40 KiB header", _host("/x", "X-Big: " + "b" * 40960), 431),
    Attack("one 1 MiB header line", _host("/x", "X-Big: " + "b" * (1 << 20)), 431),
)



@dataclass(frozen=True, slots=True)
class UpstreamAttack:
    name: str
    response: bytes
    status: int  # what the client gets from Portico


_OK = b"HTTP/1.1 200 OK\r\n"
UPSTREAM_CORPUS: dict[str, UpstreamAttack] = {a.name: a for a in (
    UpstreamAttack("content-length-and-chunked",
                   _OK + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 502),
    UpstreamAttack("two-different-content-lengths",
                   _OK + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 502),
    UpstreamAttack("two-equal-content-lengths",
                   _OK + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 502),
    UpstreamAttack("status-code-2000", b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", 502),
    UpstreamAttack("not-http", b"SSH-2.0-OpenSSH_9.6\r\n\r\n", 502),
    UpstreamAttack("gzip-transfer-coding", _OK + b"Transfer-Encoding: gzip\r\n\r\nabc", 502),
    UpstreamAttack("nul-in-a-header", _OK + b"X-A: a\x00b\r\nContent-Length: 0\r\n\r\n", 502),
    UpstreamAttack("one-mebibyte-of-headers",
                   _OK + b"X-Big: " + b"b" * (1 << 20) + b"\r\nContent-Length: 0\r\n\r\n", 502),
    UpstreamAttack("header-flood",
                   _OK + b"X-H: h\r\n" * 20000 + b"Content-Length: 0\r\n\r\n", 502),
    UpstreamAttack("response-then-garbage",
                   _OK + b"Content-Length: 2\r\n\r\nok"
                   b"HTTP/1.1 302 Found\r\nLocation: /evil\r\n\r\n", 200),
)}

# Well-formed requests the same proxy must forward: they show the recording works.
CONTROLS: tuple[Attack, ...] = (
    Attack("plain GET", _host("/x"), 200),
    Attack("absolute-form GET", _get(f"http://{HOST}/x", "Host: other.test"), 200),
    Attack("chunked POST with an extension and a trailer",
           _post(_CHUNKED, b"3;name=value\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"), 200),
    Attack("HTTP/1.0", f"GET /x HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode(), 200),
)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int  # 0 when the connection closed without a status line
    closed: bool  # the proxy closed the connection after it
    head: bytes


def send(port: int, wire: bytes, deadline: float = 5.0, host: str = "127.0.0.1") -> Answer:
    """Send `wire` on a new connection and read the answer.

    Reads until the proxy closes, or until a complete answer that does not
    announce `Connection: close`, or until `deadline` passes.
    """
    received = b""
    closed = False
    with socket.create_connection((host, port), timeout=deadline) as sock:
        # The proxy may refuse before reading everything: its answer can still be read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(wire)
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not data:
                closed = True
                break
            received += data
            if _complete(received) and b"connection: close" not in received.lower():
                break
    return Answer(_status(received), closed, received.partition(b"\r\n\r\n")[0])


def _complete(received: bytes) -> bool:
    head, found, body = received.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return True


def _status(received: bytes) -> int:
    line = received.partition(b"\r\n")[0].split(b" ")
    return int(line[1]) if len(line) > 1 and line[0].startswith(b"HTTP/") and line[1].isdigit() \
        else 0


@dataclass(slots=True)
class Seen:
    """What reached the backend."""

    bytes: int = 0
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # complete
    begun: int = 0  # requests whose first byte arrived, complete or not
    invalid: int = 0  # connections on which bytes arrived that are not HTTP
    opened: int = 0  # connections
    closed: int = 0


class _Recorder(asyncio.Protocol):
    def __init__(self, seen: Seen, resets: bool) -> None:
        self.seen = seen
        self.resets = resets
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: dict[str, str] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.seen.opened += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.seen.closed += 1

    def data_received(self, data: bytes) -> None:
        self.seen.bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.seen.invalid += 1
            if self.transport is not None:
                self.transport.close()

    def on_message_begin(self) -> None:
        self.seen.begun += 1
        self.url = b""
        self.headers = {}

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        url = self.url.decode("latin-1")
        self.seen.requests.append((method, url, self.headers))
        if self.transport is None:
            return
        if self.resets:
            # A pod that dies after reading the request: the proxy sees a reset, no response.
            sock = self.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
            return
        canned = UPSTREAM_CORPUS.get(url.removeprefix("/respond/"))
        if canned is not None:
            self.transport.write(canned.response)  # and the connection stays open
        elif url.startswith("/chunked"):
            self.transport.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                                 b"8\r\nbackend\n\r\n0\r\n\r\n")
        else:
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nbackend\n")


class RecordingBackend:
    """An upstream on `address` that records what reaches it, served from its own thread.

    With `resets`, it resets every connection once it has read a request.
    """

    def __init__(self, address: tuple[str, int], resets: bool = False) -> None:
        self.seen = Seen()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server = self._call(
            self._loop.create_server(lambda: _Recorder(self.seen, resets), *address)
        )
        self.address = address

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=10)

    def reset(self) -> Seen:
        """What was seen so far; counting starts again from nothing."""
        seen = self.seen
        snapshot = Seen(seen.bytes, list(seen.requests), seen.begun, seen.invalid, seen.opened,
                        seen.closed)
        seen.bytes = seen.begun = seen.invalid = seen.opened = seen.closed = 0
        seen.requests.clear()
        return snapshot

    def close(self) -> None:
        self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
