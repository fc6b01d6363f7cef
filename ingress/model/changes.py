"""What differs between two routing tables: the form in which tables travel.

A data plane that serves a table gets the next one as a `TableChange`: the
virtual hosts, certificates and endpoint sets that differ, keyed as in the
table, and the table's single-valued parts. Applying it to the table it was
computed from gives the new table, which shares every unchanged part with
the old one. So a rebuild that changed one Ingress ships one virtual host,
and an EndpointSlice change ships one endpoint set (a change of endpoints
alone keeps its table's generation: it is no rebuild).

A change names the generation of the table it applies to (`base`), and
`apply` refuses any other: a change can never land on a table it was not
computed from, whatever order it arrives in.

A large change (a worker's first table, a setting that touches every route)
is `split` into parts of bounded size, which a worker unpickles one at a
time between requests and `join`s before applying.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ingress.model.backends import Backend, EndpointSet
from ingress.model.routes import Route
from ingress.model.table import Certificate, RoutingTable, VirtualHost

V = TypeVar("V")


class StaleChange(Exception):
    """A change computed from another table than the one it was applied to."""


@dataclass(frozen=True, slots=True)
class EntryChanges(Generic[V]):
    """The entries of one of the table's mappings that were added or replaced, and removed."""

    put: Mapping[str, V] = field(default_factory=dict)
    removed: tuple[str, ...] = ()

    def touched(self) -> Iterator[str]:
        """The keys put or removed."""
        yield from self.put
        yield from self.removed

    def applied(self, old: Mapping[str, V]) -> Mapping[str, V]:
        if not self.put and not self.removed:
            return old
        new = dict(old)
        new.update(self.put)
        for key in self.removed:
            del new[key]
        return new


def entry_changes(old: Mapping[str, V], new: Mapping[str, V]) -> EntryChanges[V]:
    """What turns `old` into `new`; an unchanged entry costs an identity check when the
    two share it, and an equality check when they do not."""
    if old is new:
        return EntryChanges()
    put = {key: value for key, value in new.items()
           if (before := old.get(key)) is not value and before != value}
    removed = tuple(key for key in old if key not in new)
    return EntryChanges(put, removed)


@dataclass(frozen=True, slots=True)
class Singles:
    """The table's parts that travel whole."""

    any_host: VirtualHost | None
    default_backend: Route | None
    default_certificate: Certificate | None
    passthrough: Mapping[str, Backend]
    settings: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class TableChange:
    base: int  # the generation of the table it applies to
    generation: int  # the generation of the table it makes
    hosts: EntryChanges[VirtualHost] = field(default_factory=EntryChanges)
    wildcards: EntryChanges[VirtualHost] = field(default_factory=EntryChanges)
    deep_wildcards: EntryChanges[VirtualHost] = field(default_factory=EntryChanges)
    certificates: EntryChanges[Certificate] = field(default_factory=EntryChanges)
    wildcard_certificates: EntryChanges[Certificate] = field(default_factory=EntryChanges)
    endpoints: EntryChanges[EndpointSet] = field(default_factory=EntryChanges)
    singles: Singles | None = None  # None: those of the base table

    def apply(self, table: RoutingTable) -> RoutingTable:
        """The table this change makes of `table`, or StaleChange."""
        if table.generation != self.base:
            raise StaleChange(f"a change of generation {self.base} cannot apply to "
                              f"generation {table.generation}")
        singles = self.singles or singles_of(table)
        return RoutingTable(
            hosts=self.hosts.applied(table.hosts),
            wildcards=self.wildcards.applied(table.wildcards),
            deep_wildcards=self.deep_wildcards.applied(table.deep_wildcards),
            any_host=singles.any_host,
            default_backend=singles.default_backend,
            certificates=self.certificates.applied(table.certificates),
            wildcard_certificates=self.wildcard_certificates.applied(table.wildcard_certificates),
            default_certificate=singles.default_certificate,
            passthrough=singles.passthrough,
            settings=singles.settings,
            endpoints=self.endpoints.applied(table.endpoints),
            generation=self.generation,
        )

    def tls_changed(self) -> bool:
        """Whether the TLS contexts must be prepared again: a certificate, a setting, or a
        host (its client-certificate policy, its TLS settings, which host a server name
        names) changed. Only an endpoint change leaves them as they are."""
        entries = (self.hosts, self.wildcards, self.deep_wildcards, self.certificates,
                   self.wildcard_certificates)
        return self.singles is not None or any(e.put or e.removed for e in entries)

    def weight(self) -> int:
        """About how many routes and endpoints the change holds (see `split`)."""
        entries = (self.hosts, self.wildcards, self.deep_wildcards, self.certificates,
                   self.wildcard_certificates, self.endpoints)
        return sum(_weight(value) for changes in entries for value in changes.put.values())


def singles_of(table: RoutingTable) -> Singles:
    return Singles(table.any_host, table.default_backend, table.default_certificate,
                   table.passthrough, table.settings)


def table_change(old: RoutingTable, new: RoutingTable) -> TableChange:
    """What turns `old` into `new`."""
    singles = singles_of(new)
    return TableChange(
        base=old.generation,
        generation=new.generation,
        hosts=entry_changes(old.hosts, new.hosts),
        wildcards=entry_changes(old.wildcards, new.wildcards),
        deep_wildcards=entry_changes(old.deep_wildcards, new.deep_wildcards),
        certificates=entry_changes(old.certificates, new.certificates),
        wildcard_certificates=entry_changes(old.wildcard_certificates,
                                            new.wildcard_certificates),
        endpoints=entry_changes(old.endpoints, new.endpoints),
        singles=None if singles == singles_of(old) else singles,
    )


def endpoints_change(table: RoutingTable, put: Mapping[str, EndpointSet]) -> TableChange:
    """New endpoint sets for some backends of `table`, in the same generation."""
    return TableChange(table.generation, table.generation, endpoints=EntryChanges(put))


def split(change: TableChange, budget: int) -> list[TableChange]:
    """`change` in parts of about `budget` routes and endpoints each (a part holds one
    entry at least); the last part carries the singles and every removal."""
    if change.weight() <= budget:
        return [change]
    base, generation = change.base, change.generation
    parts = [TableChange(base, generation, hosts=put) for put in _cut(change.hosts, budget)]
    parts += [TableChange(base, generation, wildcards=put)
              for put in _cut(change.wildcards, budget)]
    parts += [TableChange(base, generation, deep_wildcards=put)
              for put in _cut(change.deep_wildcards, budget)]
    parts += [TableChange(base, generation, certificates=put)
              for put in _cut(change.certificates, budget)]
    parts += [TableChange(base, generation, wildcard_certificates=put)
              for put in _cut(change.wildcard_certificates, budget)]
    parts += [TableChange(base, generation, endpoints=put)
              for put in _cut(change.endpoints, budget)]
    parts.append(TableChange(
        base, generation,
        hosts=EntryChanges(removed=change.hosts.removed),
        wildcards=EntryChanges(removed=change.wildcards.removed),
        deep_wildcards=EntryChanges(removed=change.deep_wildcards.removed),
        certificates=EntryChanges(removed=change.certificates.removed),
        wildcard_certificates=EntryChanges(removed=change.wildcard_certificates.removed),
        endpoints=EntryChanges(removed=change.endpoints.removed),
        singles=change.singles,
    ))
    return parts


def _cut(entries: EntryChanges[V], budget: int) -> Iterator[EntryChanges[V]]:
    chunk: dict[str, V] = {}
    weight = 0
    for key, value in entries.put.items():
        chunk[key] = value
        weight += _weight(value)
        if weight >= budget:
            yield EntryChanges(chunk)
            chunk, weight = {}, 0
    if chunk:
        yield EntryChanges(chunk)


def _weight(value: object) -> int:
    """About how many objects `value` unpickles into, in routes."""
    if isinstance(value, VirtualHost):
        return 1 + sum(1 for _ in value.routes())
    if isinstance(value, EndpointSet):
        return 1 + (len(value.ready) + len(value.fallback)) // 4
    return 1


def join(parts: list[TableChange]) -> TableChange:
    """The change that `split` cut into `parts` (all of them, the last one last)."""
    if len(parts) == 1:
        return parts[0]
    last = parts[-1]

    def joined(entries_of: Callable[[TableChange], EntryChanges[V]]) -> EntryChanges[V]:
        put: dict[str, V] = {}
        for part in parts:
            put.update(entries_of(part).put)
        return EntryChanges(put, entries_of(last).removed)

    return TableChange(
        last.base, last.generation,
        hosts=joined(lambda c: c.hosts),
        wildcards=joined(lambda c: c.wildcards),
        deep_wildcards=joined(lambda c: c.deep_wildcards),
        certificates=joined(lambda c: c.certificates),
        wildcard_certificates=joined(lambda c: c.wildcard_certificates),
        endpoints=joined(lambda c: c.endpoints),
        singles=last.singles,
    )
