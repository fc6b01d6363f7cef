"""The pace of an HTTP/1.1 client connection: when it reads, and where its response goes.

Reading stops for several reasons at once (pipelined requests waiting, an
upstream slower than the request body, a connect in progress, framing
lost) and resumes only when none is left. Writing to a slow client either
pauses the upstream's reading or, with proxy-buffering, keeps reading the
pod into a `ResponseBuffer` the client drains at its own pace.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from ingress.proxy.forward import Forwarder
from ingress.proxy.response_buffer import ResponseBuffer

if TYPE_CHECKING:
    from ingress.proxy.upstream import UpstreamConnection

# Reasons to stop reading from the client; reading resumes when none is left.
PAUSE_QUEUE: Final = 1  # pipelined requests wait for the one in flight
PAUSE_UPSTREAM: Final = 2  # the upstream does not take the request body as fast
PAUSE_CONNECTING: Final = 4  # the body is buffering while the upstream connection opens
PAUSE_DONE: Final = 8  # nothing more will be read: framing was lost, or too many requests queued


class ClientFlow(Forwarder):
    __slots__ = ("buffer", "deadline", "paused", "transport", "tunnel")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        # Response bytes the client has not taken yet (proxy-buffering), when there are any.
        self.buffer: ResponseBuffer | None = None
        self.paused = 0
        self.write_paused = False
        self.deadline = 0.0  # loop time: the sweeper calls `timed_out` after it
        # After a 101: the upstream connection the client's bytes go to as they are.
        self.tunnel: UpstreamConnection | None = None

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not self.closed:
            if self.buffer is not None:
                self.buffer.add(data)
                self.buffer.drain()
                return
            transport.write(data)
            if self.tunnel is not None:
                self.deadline = self.dp.loop.time() + self.dp.settings.tunnel_idle_timeout

    # --- reading

    def _pause(self, reason: int) -> None:
        if not self.paused and self.transport is not None:
            self.transport.pause_reading()
        self.paused |= reason

    def _resume(self, reason: int) -> None:
        if self.paused & reason:
            self.paused &= ~reason
            if not self.paused and self.transport is not None and not self.closed:
                self.transport.resume_reading()

    def pause_request_body(self) -> None:
        active = self.active
        if active is not None and active.body is not None and active.body.complete:
            active.body.pause()  # the pod takes the buffered body slower than it is read
        else:
            self._pause(PAUSE_UPSTREAM)

    def resume_request_body(self) -> None:
        active = self.active
        if active is not None and active.body is not None and active.body.complete:
            active.body.resume()
        else:
            self._resume(PAUSE_UPSTREAM)

    # --- writing

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.buffer is not None or self._start_buffering():
            assert self.buffer is not None
            self.buffer.pause()  # the pod goes on: its bytes wait in the buffer
            return
        upstream = self.tunnel or (self.active.upstream if self.active is not None else None)
        if upstream is not None and upstream.transport is not None:
            upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        buffered = self.buffer
        if buffered is not None:
            buffered.resume()
            if buffered.empty and not buffered.paused and buffered.close_when_done is None:
                self.buffer = None
        active = self.active
        if active is not None and active.throttle is not None and active.throttle.holding:
            return  # the throttle resumes the upstream when the response is due
        upstream = self.tunnel or (active.upstream if active is not None else None)
        if upstream is not None and upstream.transport is not None and not upstream.closed:
            upstream.transport.resume_reading()

    def _start_buffering(self) -> bool:
        """proxy-buffering: keep reading the pod while this client is slow."""
        active, transport = self.active, self.transport
        route = active.route if active is not None else None
        buffering = route.upstream.buffering if route is not None else None
        if buffering is None or not buffering.response or self.tunnel is not None \
                or transport is None:
            return False
        self.buffer = ResponseBuffer(self.dp.loop, buffering.buffers * buffering.buffer_size,
                                     buffering.max_temp_file, transport.write,
                                     self._buffer_full)
        return True

    def _buffer_full(self, full: bool) -> None:
        """The response buffer is past its limits (True) or back under them."""
        upstream = self.active.upstream if self.active is not None else None
        if upstream is not None and upstream.transport is not None and not upstream.closed:
            if full:
                upstream.transport.pause_reading()
            else:
                upstream.transport.resume_reading()
