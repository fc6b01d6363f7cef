"""One transport write per turn of the loop for an HTTP/2 connection, client or pod side."""

from __future__ import annotations

import asyncio

from h2.connection import H2Connection


class BatchedWrites(asyncio.Protocol):
    """Frames pile up in the codec while a read or a turn of the loop produces them;
    `schedule_flush` writes them all at the turn's end (a read handler sets
    `flush_scheduled` itself and flushes at its own end)."""

    __slots__ = ("flush_scheduled", "h2", "loop", "transport")
    h2: H2Connection
    transport: asyncio.Transport | None
    flush_scheduled: bool
    loop: asyncio.AbstractEventLoop

    def schedule_flush(self) -> None:
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        data = self.h2.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)
