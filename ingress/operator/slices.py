"""Walks over every owned Ingress on the event loop, a slice at a time.

Status and Event syncs look at each of the Ingresses a build serves, and
most need nothing written, so their `await`s never suspend: at 10,000
Ingresses one walk held the loop for tens of milliseconds, and with
`--workers 1` that loop also proxies requests. Yielding to it every few
hundred items keeps each hold to a few milliseconds. The walk's state is its
task's own; what other tasks change in between (the store) is read afresh
for each item.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import TypeVar

T = TypeVar("T")

SLICE = 256  # items between two yields: ≈ 1-3 ms of a status or Event check each


async def in_slices(items: Iterable[T], size: int = SLICE) -> AsyncIterator[T]:
    for n, item in enumerate(items, 1):
        yield item
        if n % size == 0:
            await asyncio.sleep(0)
