"""Consistent hashing, point for point as ingress-nginx's balancers do it.

ingress-nginx hashes with lua-resty-balancer's `chash`: 160 points per
node on a 32-bit ring, each point the CRC32 of the previous one continued
from the CRC32 of the node's name; a key's CRC32 goes to the last point at
or below it (the first point when below all). Doing the same here means a
key reaches the same pod as it did under ingress-nginx, and a pod joining
or leaving moves only the keys next to its points.
"""

from __future__ import annotations

import zlib
from bisect import bisect_right
from collections.abc import Sequence
from typing import Generic, TypeVar

from ingress.model import Endpoint

T = TypeVar("T")
POINTS_PER_WEIGHT = 160


class Ring(Generic[T]):
    __slots__ = ("hashes", "nodes")

    def __init__(self, nodes: Sequence[tuple[str, int, T]]) -> None:
        """`nodes`: (name, weight, what `find` returns for it); at least one."""
        points: list[tuple[int, T]] = []
        for name, weight, node in nodes:
            # zlib.crc32(data, start) continues from a finished CRC: undo its final inversion.
            state = zlib.crc32(name.encode()) ^ 0xFFFFFFFF
            previous = 0
            for _ in range(weight * POINTS_PER_WEIGHT):
                previous = zlib.crc32(previous.to_bytes(4, "little"), state)
                points.append((previous, node))
        points.sort(key=lambda point: point[0])
        self.hashes = [point[0] for point in points]
        self.nodes = [point[1] for point in points]

    def find(self, key: str) -> T:
        point = bisect_right(self.hashes, zlib.crc32(key.encode("utf-8", "surrogateescape")))
        return self.nodes[point - 1 if point else 0]


def endpoint_name(endpoint: Endpoint) -> str:
    """ingress-nginx's name of an endpoint on its rings: `ip:port`, `[ip]:port` for IPv6."""
    if ":" in endpoint.ip:
        return f"[{endpoint.ip}]:{endpoint.port}"
    return f"{endpoint.ip}:{endpoint.port}"
