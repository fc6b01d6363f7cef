"""`--http2`: requests as streams multiplexed over few HTTP/2 connections (the h2 codec).

The load client keeps one request at a time on each pool place. With
HTTP/2 a pool place is a `Lane`: a stream slot of a `Session`, one TCP
connection carrying `--streams` lanes (ALPN h2 over TLS, prior knowledge
over plain HTTP, as h2load does). So `--connections 50 --streams 10` keeps
50 requests in flight over 5 connections. A lane offers what the client
asks of a connection: `send(due)`, `due`, `timed_out()` and `transport`.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, cast

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import ProtocolError

if TYPE_CHECKING:
    from ingress.loadtest.client import LoadClient

_CONFIG = H2Configuration(client_side=True, header_encoding=None)


class Lane:
    """One stream at a time of a session: what the load client sees as a connection."""

    __slots__ = ("client", "due", "session", "sid", "status")

    def __init__(self, session: Session, client: LoadClient) -> None:
        self.session = session
        self.client = client
        self.due = 0.0  # when the request in flight was due; 0 when idle
        self.sid = 0
        self.status = 0

    @property
    def transport(self) -> asyncio.Transport | None:
        return self.session.transport

    def send(self, due: float) -> None:
        self.due = due
        self.status = 0
        self.session.send(self)

    def complete(self) -> None:
        due, self.due = self.due, 0.0
        if due:
            self.client.answered(self, due, self.status, True)

    def fail(self, kind: str, message: str) -> None:
        due, self.due = self.due, 0.0
        if due:
            self.client.failed(due, kind, message)

    def timed_out(self) -> None:
        self.session.cancel(self)
        self.fail("timeout", f"no answer within {self.client.plan.timeout:g} s")


class Session(asyncio.Protocol):
    """One HTTP/2 connection and its lanes."""

    def __init__(self, client: LoadClient, lanes: int) -> None:
        self.client = client
        self.h2 = H2Connection(config=_CONFIG)
        self.transport: asyncio.Transport | None = None
        self.free = lanes  # lanes not handed out yet
        self.lanes: list[Lane] = []
        self.streams: dict[int, Lane] = {}
        self.flush_scheduled = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.h2.initiate_connection()
        self.flush()

    def lane(self) -> Lane:
        self.free -= 1
        lane = Lane(self, self.client)
        self.lanes.append(lane)
        return lane

    def send(self, lane: Lane) -> None:
        target = self.client.target
        h2 = self.h2
        sid = h2.get_next_available_stream_id()
        lane.sid = sid
        self.streams[sid] = lane
        body = target.body
        h2.send_headers(sid, target.h2_headers, end_stream=not body)
        if body:
            h2.send_data(sid, body, end_stream=True)
        if not self.flush_scheduled:  # the requests sent in one loop turn leave in one write
            self.flush_scheduled = True
            self.client.loop.call_soon(self.flush)

    def cancel(self, lane: Lane) -> None:
        if self.streams.pop(lane.sid, None) is not None and self.transport is not None:
            self.h2.reset_stream(lane.sid)
            self.flush()

    def flush(self) -> None:
        self.flush_scheduled = False
        data = self.h2.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except ProtocolError as error:
            self._fail_all("protocol", f"HTTP/2: {error}")
            return
        for event in events:
            if isinstance(event, ResponseReceived):
                lane = self.streams.get(event.stream_id or 0)
                if lane is not None:
                    status = dict(event.headers or ()).get(b":status", b"")
                    lane.status = int(status) if status.isdigit() else 0
            elif isinstance(event, DataReceived):
                self.h2.acknowledge_received_data(event.flow_controlled_length or 0,
                                                  event.stream_id or 0)
            elif isinstance(event, StreamEnded):
                lane = self.streams.pop(event.stream_id or 0, None)
                if lane is not None:
                    lane.complete()
            elif isinstance(event, StreamReset):
                lane = self.streams.pop(event.stream_id or 0, None)
                if lane is not None:
                    lane.fail("reset", f"stream reset by the server ({event.error_code!r})")
            elif isinstance(event, ConnectionTerminated):
                self._fail_all("reset", f"GOAWAY from the server ({event.error_code!r})")
                return
        self.flush()

    def _fail_all(self, kind: str, message: str) -> None:
        streams, self.streams = self.streams, {}
        for lane in streams.values():
            lane.fail(kind, message)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        why = str(exc) if exc is not None else "closed by the server"
        streams, self.streams = self.streams, {}
        for lane in streams.values():
            lane.fail("reset", f"connection lost before the answer: {why}")
        for lane in self.lanes:
            self.client.lost(lane)


class Sessions:
    """Hands out lanes, opening a session when none has a free one."""

    def __init__(self, client: LoadClient, lanes: int) -> None:
        self.client = client
        self.lanes = lanes
        self.opening: asyncio.Future[Session] | None = None
        self.current: Session | None = None

    async def lane(self) -> Lane:
        """A lane of the current session, or of a new one."""
        while True:
            session = self.current
            if session is not None and session.free and session.transport is not None:
                return session.lane()
            if self.opening is None:
                self.opening = asyncio.ensure_future(self._open())
            opening = self.opening
            try:
                await asyncio.shield(opening)
            finally:
                if self.opening is opening and opening.done():
                    self.opening = None

    async def _open(self) -> Session:
        """Connect a session: ALPN h2 over TLS, prior knowledge otherwise."""
        session = Session(self.client, self.lanes)
        target = self.client.target
        transport, _ = await self.client.loop.create_connection(
            lambda: session, target.address, target.port, ssl=target.tls,
            server_hostname=target.server_name if target.tls else None)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() != "h2":
            transport.close()
            raise ssl.SSLError("the server did not choose HTTP/2 (ALPN h2)")
        self.current = session
        return session
