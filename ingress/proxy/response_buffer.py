"""A response the client takes slower than the pod sends it: nginx's proxy_buffering on.

Without buffering, a slow client slows the pod down (its connection stops
being read). With it, the response keeps being read: up to
`proxy-buffers-number` times `proxy-buffer-size` bytes in memory, then into an
anonymous temporary file of at most `proxy-max-temp-file-size`, and only
past that is the pod slowed down. The pod's connection is free as soon as
it has sent everything. File I/O runs in the loop's thread pool, one write
at a time so that the file grows in order; a part is read back only once
written.

Bytes are kept in arrival order as segments (in memory, or a range of the
file) and written to the client whenever its transport takes more.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections import deque
from collections.abc import Callable
from typing import IO

from ingress.proxy.request_body import pwrite_all

_READ = 256 * 1024


class ResponseBuffer:
    __slots__ = (
        "close_when_done",
        "file",
        "file_limit",
        "file_size",
        "full",
        "in_memory",
        "loop",
        "memory",
        "on_full",
        "paused",
        "reading",
        "segments",
        "transport_write",
        "writing",
        "written",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, memory: int, file_limit: int,
                 transport_write: Callable[[bytes], None],
                 on_full: Callable[[bool], None]) -> None:
        self.loop = loop
        self.memory = memory
        self.file_limit = file_limit
        self.transport_write = transport_write
        # Told True when the pod must be slowed down, False when it may go on.
        self.on_full = on_full
        # bytes in memory, or (offset, length) of the file, in arrival order.
        self.segments: deque[bytes | tuple[int, int]] = deque()
        self.in_memory = 0
        self.file: IO[bytes] | None = None
        self.file_size = 0  # bytes given to the file (written or queued)
        self.written = 0  # bytes of the file actually written
        self.writing: deque[tuple[bytes, int]] = deque()  # writes waiting their turn
        self.paused = True  # the client's transport is full
        self.reading = False
        self.full = False
        self.close_when_done: Callable[[], None] | None = None

    @property
    def empty(self) -> bool:
        return not self.segments and not self.reading

    def add(self, data: bytes) -> None:
        if self.in_memory + len(data) <= self.memory and not self._in_file_mode():
            self.segments.append(data)
            self.in_memory += len(data)
        elif self.file_size + len(data) <= self.file_limit and self._file() is not None:
            self.segments.append((self.file_size, len(data)))
            self._write(data, self.file_size)
            self.file_size += len(data)
        else:
            # Past both limits: kept anyway (one read of the pod's), and the pod is paused.
            self.segments.append(data)
            self.in_memory += len(data)
            if not self.full:
                self.full = True
                self.on_full(True)

    def _in_file_mode(self) -> bool:
        return bool(self.segments) and isinstance(self.segments[-1], tuple)

    def _file(self) -> IO[bytes] | None:
        if self.file is None and self.file_limit > 0:
            try:
                # Lives as long as this buffer: closed when the connection lets go of it.
                self.file = tempfile.TemporaryFile(prefix="portico-response-")  # noqa: SIM115
            except OSError:
                self.file_limit = 0
        return self.file

    def _write(self, data: bytes, offset: int) -> None:
        self.writing.append((data, offset))
        if len(self.writing) == 1:
            self._next_write()

    def _next_write(self) -> None:
        assert self.file is not None
        data, offset = self.writing[0]
        future = self.loop.run_in_executor(None, pwrite_all, self.file.fileno(), data, offset)
        future.add_done_callback(self._wrote)

    def _wrote(self, future: asyncio.Future[int]) -> None:
        data, offset = self.writing[0]
        if future.cancelled() or future.exception() is not None:
            self.file_limit = 0  # the disk failed: this response cannot be completed
            self.writing.clear()
            self.segments.clear()
            if self.close_when_done is not None:
                self.close_when_done()
            return
        self.writing.popleft()
        self.written = offset + len(data)
        if self.writing:
            self._next_write()
        self.drain()

    def resume(self) -> None:
        self.paused = False
        self.drain()

    def drain(self) -> None:
        """Write what the client's transport will take, in order."""
        while self.segments and not self.paused and not self.reading:
            segment = self.segments[0]
            if isinstance(segment, bytes):
                self.segments.popleft()
                self.in_memory -= len(segment)
                self.transport_write(segment)  # may call pause() at once
                continue
            offset, length = segment
            if offset + length > self.written or self.file is None:
                return  # not on disk yet: _wrote drains again
            self.reading = True
            size = min(length, _READ)
            future = self.loop.run_in_executor(None, os.pread, self.file.fileno(), size, offset)
            future.add_done_callback(self._read)
        if self.full and self.in_memory <= self.memory:
            self.full = False
            self.on_full(False)
        if self.empty and self.close_when_done is not None:
            self.close_when_done()

    def _read(self, future: asyncio.Future[bytes]) -> None:
        self.reading = False
        if future.cancelled() or future.exception() is not None or not future.result():
            self.segments.clear()
            if self.close_when_done is not None:
                self.close_when_done()
            return
        data = future.result()
        segment = self.segments[0]
        assert isinstance(segment, tuple)
        offset, length = segment
        if len(data) < length:
            self.segments[0] = (offset + len(data), length - len(data))
        else:
            self.segments.popleft()
        self.transport_write(data)
        self.drain()

    def pause(self) -> None:
        self.paused = True
