"""Response DATA for one HTTP/2 stream, within the client's flow-control windows.

Bytes the windows do not take yet wait in `pending`; past a high-water mark
the stream's upstream stops being read (an HTTP/1.1 pod's connection is
paused, an HTTP/2 pod gets no window back) until the client catches up.
When `pending` drains, the END_STREAM or trailers that waited for it go out.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ingress.proxy.forward import Forwarder
from ingress.proxy.upstream import UpstreamConnection

if TYPE_CHECKING:
    from h2.connection import H2Connection

    from ingress.proxy.h2.call import GrpcCall
    from ingress.proxy.h2.connection import H2ClientConnection

# Response bytes waiting for the client's window beyond which the upstream is paused.
_PENDING_HIGH = 256 * 1024
_PENDING_LOW = 64 * 1024


class ResponseWindow(Forwarder):
    """The response side of an `H2Stream`."""

    __slots__ = ("call", "conn", "end_pending", "h2", "pending", "pending_size", "sid",
                 "trailers", "upstream_paused")

    h2: H2Connection
    sid: int
    conn: H2ClientConnection
    call: GrpcCall | None
    pending: deque[bytes]
    pending_size: int
    upstream_paused: bool
    end_pending: bool  # END_STREAM waits for `pending` to drain
    trailers: list[tuple[bytes, bytes]] | None  # sent after `pending`

    def _maybe_closed(self) -> None:
        raise NotImplementedError

    # --- response DATA to the client, within its window

    def send_body(self, data: bytes) -> None:
        if self.pending_size or self.conn.write_paused:
            self.pending.append(data)
            self.pending_size += len(data)
        else:
            sent = self._push(data)
            if sent < len(data):
                rest = data[sent:]
                self.pending.append(rest)
                self.pending_size += len(rest)
            if sent:
                self._sent(sent)
        if self.pending_size > _PENDING_HIGH and not self.upstream_paused:
            self.upstream_paused = True
            self.pause_upstream()

    def _push(self, data: bytes) -> int:
        """Send what the client's windows allow now; the number of bytes sent."""
        h2 = self.h2
        sid = self.sid
        allowed = min(len(data), h2.local_flow_control_window(sid))
        frame = h2.max_outbound_frame_size
        if allowed == len(data) and allowed <= frame:
            h2.send_data(sid, data)
            return allowed
        view = memoryview(data)
        offset = 0
        while offset < allowed:
            size = min(frame, allowed - offset)
            h2.send_data(sid, view[offset : offset + size])
            offset += size
        return allowed

    def flush_pending(self) -> None:
        """The client's window grew or its connection drained: send what waits."""
        if self.closed:
            return
        pending = self.pending
        sent_total = 0
        while pending and not self.conn.write_paused:
            data = pending[0]
            sent = self._push(data)
            sent_total += sent
            if sent < len(data):
                pending[0] = data[sent:]
                break
            pending.popleft()
        if sent_total:
            self.pending_size -= sent_total
            self._sent(sent_total)
        if not pending:
            if self.trailers is not None:
                trailers, self.trailers = self.trailers, None
                self.h2.send_headers(self.sid, trailers, end_stream=True)
                self._maybe_closed()
            elif self.end_pending:
                self.end_pending = False
                self.h2.end_stream(self.sid)
                self._maybe_closed()
        self.conn.schedule_flush()

    def _sent(self, size: int) -> None:
        """`size` response bytes went to the client: give the upstream room for more."""
        if self.call is not None:
            self.call.acknowledge(size)
        elif self.upstream_paused and self.pending_size < _PENDING_LOW:
            self.upstream_paused = False
            if not self.conn.write_paused:
                self.resume_upstream()

    def _upstream_transport(self) -> UpstreamConnection | None:
        exchange = self.active
        upstream = exchange.upstream if exchange is not None else None
        return upstream if upstream is not None and upstream.transport is not None else None

    def pause_upstream(self) -> None:
        """The client's connection or window is full: stop reading this stream's upstream."""
        upstream = self._upstream_transport()
        if upstream is not None and upstream.transport is not None:
            upstream.transport.pause_reading()

    def resume_upstream(self) -> None:
        if not self.upstream_paused:
            upstream = self._upstream_transport()
            if upstream is not None and upstream.transport is not None and not upstream.closed:
                upstream.transport.resume_reading()
        self.flush_pending()
