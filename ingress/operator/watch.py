"""The part of kopf Portico uses: its credentials vault and its list-then-watch streams.

kopf's handler machinery (`kopf.index`, `kopf.on.event`) gives every object
a task of its own, and while any index is still being filled every one of
those tasks waits on one shared asyncio condition that each newly listed
object wakes: start-up cost grew with the square of the number of objects
(ready after 7 s with 1,000 Ingresses, 118 s with 3,000, never with 10,000;
`benchmarks/README.md` has the curve). One task per kind reading kopf's
watch stream costs the same per object however many there are, and keeps
what kopf does well: paged listing, resuming a watch from its
resourceVersion, listing anew after `410 Gone`, waiting out `429` as
`Retry-After` asks, logging in again after a `401`.

Those are kopf internals (`kopf._cogs`), hence kopf's pin in
pyproject.toml; this is the only module that imports them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import kopf
from kopf._cogs.clients import auth, errors, watching
from kopf._cogs.structs import bodies, credentials, references

# Its one member, LISTED, marks the end of a (re-)listing in a watch stream:
# what was listed since the previous mark is everything that exists.
ListingMark = watching.Bookmark

# What a stream raises when the API server does not serve its resource at all.
NotServed = errors.APINotFoundError

# client-go's page size for informers' lists.
PAGE_SIZE = 500

WatchItem = ListingMark | bodies.RawEvent


@dataclass(frozen=True, slots=True)
class WatchedKind:
    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool = True
    # A server-side filter: objects that do not match are never sent.
    field_selector: str = ""

    @property
    def resource(self) -> kopf.Resource:
        return kopf.Resource(self.group, self.version, self.plural, kind=self.kind,
                             namespaced=self.namespaced)


def watch_settings(kinds: tuple[WatchedKind, ...]) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.watching.chunk_size = PAGE_SIZE
    settings.watching.server_timeout = 300  # real API servers end watches; resume, no re-list
    settings.watching.reconnect_backoff = 1.0
    settings.networking.error_backoffs = (0.5, 1, 2, 4)  # then the stream starts anew
    for kind in kinds:
        if kind.field_selector:
            settings.watching.field_selectors[kind.group, kind.plural] = kind.field_selector
    return settings


class Credentials:
    """kopf's vault of API credentials, filled from `login` and filled again after a 401."""

    def __init__(self, login: Callable[[], kopf.ConnectionInfo]) -> None:
        self._login = login
        self._vault = credentials.Vault()

    async def keep_fresh(self) -> None:
        """Run for as long as streams may need credentials."""
        while True:
            await self._vault.wait_for_emptiness()
            await self._vault.populate({"portico": self._login()})

    def use(self) -> None:
        """Let kopf's API calls from the current task (and tasks it starts) use this vault."""
        auth.vault_var.set(self._vault)

    async def close(self) -> None:
        await self._vault.close()


def watch_stream(settings: kopf.OperatorSettings, kind: WatchedKind,
                 namespace: str | None) -> AsyncIterator[WatchItem]:
    """Listed objects (type None), a `ListingMark`, then watch events, forever.

    kopf's API calls find their credentials through `Credentials.use`.
    """
    stream: AsyncIterator[WatchItem] = watching.infinite_watch(
        settings=settings, resource=kind.resource,
        namespace=references.NamespaceName(namespace) if namespace and kind.namespaced else None,
    )
    return stream
