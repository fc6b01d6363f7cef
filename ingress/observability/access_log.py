"""The access log: one line per request, in a fixed JSON shape or ingress-nginx's format.

`json` (the default) is one object per line with fixed field names, so a
log pipeline can rely on them; `nginx` is ingress-nginx's default
`log-format-upstream`, for pipelines that already parse that:

    $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    "$http_referer" "$http_user_agent" $request_length $request_time
    [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr
    $upstream_response_length $upstream_response_time $upstream_status $req_id

Writing never blocks the event loop: lines collect in memory and a writer
thread hands them to the output in batches. When the output cannot keep up
and `limit` bytes are waiting, new lines are dropped and counted
(`portico_access_log_dropped_total`) instead of stalling the proxy.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from json.encoder import encode_basestring
from typing import NamedTuple

from ingress.observability.logs import iso_time
from ingress.observability.stats import ProxyStats

FORMATS = ("json", "nginx")
# Bytes waiting for the writer thread beyond which lines are dropped.
DEFAULT_LIMIT = 8 * 1024 * 1024
# How long lines may wait to be batched before the writer thread gets them, s.
_BATCH_DELAY = 0.02


class AccessRecord(NamedTuple):
    """One finished request, as both formats see it ('' or -1: not applicable)."""

    time: float  # epoch seconds, when the answer was complete
    request_id: str
    remote_addr: str
    method: str
    host: str
    path: str  # the request target as received, query string included
    protocol: str
    status: int
    bytes_sent: int  # everything written to the client, head included
    body_bytes_sent: int
    request_length: int
    request_time: float
    upstream_addr: str  # "ip:port", several joined by ", " after retries
    upstream_status: int
    upstream_response_time: float
    upstream_response_length: int
    upstream_name: str  # ingress-nginx's $proxy_upstream_name: namespace-service-port
    alternative_upstream_name: str  # the canary's, when the canary served; else ''
    namespace: str
    ingress: str
    service: str
    user_agent: str
    referer: str
    retries: int
    tls_version: str
    sni: str


def json_line(r: AccessRecord) -> str:
    s = encode_basestring
    upstream = r.upstream_status >= 0
    return (
        f'{{"time":"{iso_time(r.time)}","request_id":{s(r.request_id)},'
        f'"remote_addr":{s(r.remote_addr)},"method":{s(r.method)},"host":{s(r.host)},'
        f'"path":{s(r.path)},"protocol":"{r.protocol}","status":{r.status},'
        f'"bytes_sent":{r.bytes_sent},"request_length":{r.request_length},'
        f'"request_time":{r.request_time:.3f},"upstream_addr":{s(r.upstream_addr)},'
        f'"upstream_status":{r.upstream_status if upstream else "null"},'
        f'"upstream_response_time":'
        f'{f"{r.upstream_response_time:.3f}" if upstream else "null"},'
        f'"namespace":{s(r.namespace)},"ingress":{s(r.ingress)},"service":{s(r.service)},'
        f'"user_agent":{s(r.user_agent)},"referer":{s(r.referer)},"retries":{r.retries},'
        f'"tls_version":{s(r.tls_version)},"sni":{s(r.sni)}}}\n'
    )


def nginx_line(r: AccessRecord) -> str:
    e = _nginx_escape
    upstream = r.upstream_status >= 0
    return (
        f'{e(r.remote_addr)} - - [{_local(r.time)}] "{e(r.method)} {e(r.path)} {r.protocol}" '
        f'{r.status} {r.body_bytes_sent} "{e(r.referer) or "-"}" "{e(r.user_agent) or "-"}" '
        f"{r.request_length} {r.request_time:.3f} [{e(r.upstream_name)}] "
        f"[{e(r.alternative_upstream_name)}] "
        f"{r.upstream_addr or '-'} "
        f"{r.upstream_response_length if upstream else '-'} "
        f"{f'{r.upstream_response_time:.3f}' if upstream else '-'} "
        f"{r.upstream_status if upstream else '-'} {e(r.request_id) or '-'}\n"
    )


FORMATTERS = {"json": json_line, "nginx": nginx_line}


def _local(now: float) -> str:
    """nginx's $time_local, in UTC (the container's zone)."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))


# nginx's default log escaping: '"', '\' and bytes outside printable ASCII become \xHH.
_NGINX_ESCAPES = {c: f"\\x{c:02X}" for c in (*range(0x20), 0x22, 0x5C, *range(0x7F, 0x100))}


def _nginx_escape(text: str) -> str:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return text.translate(_NGINX_ESCAPES)


class AccessLogWriter:
    """Buffered, non-blocking writes of access lines to a file descriptor (stdout)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stats: ProxyStats, fd: int = 1,
                 limit: int = DEFAULT_LIMIT) -> None:
        self._loop = loop
        self._stats = stats
        self._fd = fd
        self._limit = limit
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._flush_scheduled = False
        # Bytes handed to the thread, and bytes it wrote: each side writes only its own.
        self._queued = 0
        self._written = 0
        self._batches: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        """Queue one line (ending in a newline); drop it if too much is already waiting."""
        size = len(line)
        stats = self._stats
        if self._queued - self._written + self._pending_bytes + size > self._limit:
            stats.access_log_dropped += 1
            return
        stats.access_log_lines += 1
        self._pending.append(line)
        self._pending_bytes += size
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_later(_BATCH_DELAY, self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending:
            return
        data = "".join(self._pending).encode("utf-8", "backslashreplace")
        self._pending.clear()
        self._pending_bytes = 0
        self._queued += len(data)
        self._batches.put(data)

    def close(self, timeout: float = 2.0) -> None:
        """Hand over what is pending and wait (bounded) for the thread to write it."""
        self.flush()
        self._batches.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            data = self._batches.get()
            if data is None:
                return
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError:
                pass  # the output is gone (closed pipe): nothing left to write to
            self._written += len(data)
