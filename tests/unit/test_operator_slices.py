"""Long walks on the event loop let other tasks run every slice (ingress.operator.slices)."""

from __future__ import annotations

import asyncio

from ingress.operator.slices import in_slices


async def test_a_walk_yields_to_the_loop_between_slices_and_misses_nothing() -> None:
    ran_at: list[int] = []
    seen: list[int] = []

    async def other_task() -> None:
        while True:
            ran_at.append(len(seen))
            await asyncio.sleep(0)

    other = asyncio.create_task(other_task())
    await asyncio.sleep(0)  # it starts
    async for item in in_slices(range(1000), size=256):
        seen.append(item)
    other.cancel()
    assert seen == list(range(1000))
    # Between slices only: after items 256, 512 and 768 (and once at its start).
    assert ran_at == [0, 256, 512, 768]
