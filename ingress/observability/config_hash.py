"""The configuration hash: a digest of what the served table routes, kept up to date by changes.

ingress-nginx's `config_hash` identifies the configuration running. Here it
is a digest per entry of the table (each virtual host and certificate,
with its key) combined by XOR, and one of the single-valued parts, so that
a rebuild that changed one virtual host costs one pickle and a hash, not a
pickle of the whole table (a second at 10,000 Ingresses). The same routing
gives the same value however it was reached. Endpoints are left out: as
in ingress-nginx, they change without a reload.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from ingress.model import EMPTY_TABLE, RoutingTable
from ingress.model.changes import TableChange, singles_of, table_change
from ingress.model.pickling import ModelPickler


def _digest(*parts: bytes) -> int:
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        digest.update(part)
    return int.from_bytes(digest.digest())


class ConfigDigest:
    """The digest of one table's routing; `updated` gives the next table's."""

    def __init__(self, entries: Mapping[tuple[str, str], int] | None = None,
                 singles: int = 0) -> None:
        self._entries = dict(entries or {})
        self._singles = singles
        combined = singles
        for value in self._entries.values():
            combined ^= value
        self.value = combined >> 12  # 52 bits: a float64 holds them exactly

    def updated(self, old: RoutingTable, change: TableChange) -> ConfigDigest:
        """The digest of the table `change` makes of `old` (whose digest this is)."""
        entries = dict(self._entries)
        pickler = ModelPickler()
        for kind, changes in (
            ("hosts", change.hosts),
            ("wildcards", change.wildcards),
            ("deep_wildcards", change.deep_wildcards),
            ("certificates", change.certificates),
            ("wildcard_certificates", change.wildcard_certificates),
        ):
            for key in changes.removed:
                del entries[kind, key]
            for key, value in changes.put.items():
                entries[kind, key] = _digest(kind.encode(), b"\0", key.encode(), b"\0",
                                             pickler.dumps(value))
        singles = change.singles or singles_of(old)
        return ConfigDigest(entries, _digest(pickler.dumps(singles)))


def table_hash(table: RoutingTable) -> int:
    """The configuration hash of `table`, computed from nothing."""
    return ConfigDigest().updated(EMPTY_TABLE, table_change(EMPTY_TABLE, table)).value
