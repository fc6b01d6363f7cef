"""A request body read whole before it goes upstream: nginx's proxy_request_buffering on.

The body stays in memory up to the route's client-body-buffer-size; past
that, all of it goes to an anonymous temporary file. Disk I/O never runs on
the event loop: writes and reads are positional (`pwrite`/`pread`) calls in
the loop's thread pool, so one slow disk delays only the requests being
buffered. Memory stays bounded: reading from the client pauses while more
than `_PENDING_HIGH` bytes wait to be written, and a send to the pod reads
the next block only when the previous one was written and the pod's
connection is not paused.

Once complete, the body can be sent any number of times (each try of
proxy-next-upstream starts it again), with a Content-Length.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ingress.proxy.upstream import UpstreamConnection

_BLOCK = 256 * 1024  # read from the file per step of a send
_PENDING_HIGH = 1 << 20  # bytes waiting for the disk before the client is paused
_PENDING_LOW = 256 * 1024


class BodyOwner(Protocol):
    """What the client connection offers the body of its request."""

    def pause_request_body(self) -> None: ...
    def resume_request_body(self) -> None: ...
    def body_buffered(self, body: BufferedBody) -> None: ...
    def body_failed(self, body: BufferedBody) -> None: ...


class BufferedBody:
    __slots__ = (
        "chunks",
        "complete",
        "connection",
        "failed",
        "file",
        "host_header",
        "in_memory",
        "loop",
        "owner",
        "paused",
        "pending",
        "reading",
        "sending",
        "sent",
        "size",
        "spilled",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, in_memory: int, owner: BodyOwner,
                 host_header: bytes, connection: bytes) -> None:
        self.loop = loop
        self.in_memory = in_memory
        self.owner = owner
        # What the upstream head is built from once the body is complete.
        self.host_header = host_header
        self.connection = connection
        self.chunks: list[bytes] = []
        self.size = 0
        self.file: IO[bytes] | None = None
        self.spilled = 0  # bytes written to the file
        self.pending = 0  # bytes handed to the thread pool, not yet written
        self.complete = False
        self.failed = False
        # The send in progress: its connection, the bytes sent, whether it waits to resume.
        self.sending: UpstreamConnection | None = None
        self.sent = 0
        self.paused = False
        self.reading = False

    # --- receiving

    def add(self, data: bytes) -> None:
        size = self.size + len(data)
        self.size = size
        if self.file is None and size <= self.in_memory:
            self.chunks.append(data)
            return
        if self.file is None:
            try:
                # Lives as long as this body: closed when the exchange lets go of it.
                self.file = tempfile.TemporaryFile(prefix="portico-body-")  # noqa: SIM115
            except OSError:
                self._fail()
                return
            data = b"".join((*self.chunks, data))
            self.chunks = []
        self._write(data, size - len(data))

    def _write(self, data: bytes, offset: int) -> None:
        assert self.file is not None
        self.pending += len(data)
        if self.pending > _PENDING_HIGH and self.pending - len(data) <= _PENDING_HIGH:
            self.owner.pause_request_body()
        future = self.loop.run_in_executor(None, pwrite_all, self.file.fileno(), data, offset)
        future.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[int]) -> None:
        if future.cancelled() or future.exception() is not None:
            self._fail()
            return
        written = future.result()
        before = self.pending
        self.pending -= written
        self.spilled += written
        if before > _PENDING_LOW >= self.pending:
            self.owner.resume_request_body()
        if self.complete and not self.pending:
            self.owner.body_buffered(self)

    def finish(self) -> None:
        """The whole body was received; the owner hears when it is all in place."""
        self.complete = True
        if not self.pending and not self.failed:
            self.owner.body_buffered(self)

    def _fail(self) -> None:
        if not self.failed:
            self.failed = True
            self.owner.body_failed(self)

    # --- sending (again on every try)

    def send_to(self, upstream: UpstreamConnection) -> None:
        self.sending = upstream
        self.sent = 0
        self.paused = False
        if self.file is None:
            if self.chunks:
                upstream.write(b"".join(self.chunks))
            return
        self._read_next()

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self._read_next()

    def _read_next(self) -> None:
        upstream = self.sending
        if (self.reading or self.paused or upstream is None or upstream.closed
                or self.sent >= self.size or self.file is None):
            return
        self.reading = True
        future = self.loop.run_in_executor(None, os.pread, self.file.fileno(),
                                           min(_BLOCK, self.size - self.sent), self.sent)
        future.add_done_callback(lambda done: self._read(done, upstream))

    def _read(self, future: asyncio.Future[bytes], upstream: UpstreamConnection) -> None:
        self.reading = False
        if upstream is not self.sending:
            self._read_next()  # a newer try started meanwhile
            return
        if future.cancelled() or future.exception() is not None or not future.result():
            upstream.close()  # the pod cannot get the whole body: this try fails
            return
        data = future.result()
        self.sent += len(data)
        upstream.write(data)
        self._read_next()


def pwrite_all(fd: int, data: bytes, offset: int) -> int:
    """Write all of `data` at `offset` (os.pwrite may write less); runs in a thread."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written
    return len(data)
