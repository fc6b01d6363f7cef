"""EndpointSlice changes → new endpoint sets for the table being served, without a rebuild.

Pods come and go all day; Ingresses, Services and Secrets rarely change.
So EndpointSlices travel apart from the routing objects (as Contour splits
EDS from its DAG): a changed slice is parsed once, into an index of slices
by Service that every full build reads too, and only the endpoint sets of
its Service's backends are computed again (`build.endpoints`, the same
functions a build uses). Which backends a Service has, and by which port
name, is what the last build found (`BuildResult.backends_by_service`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from ingress.build.endpoints import ParsedSlice, SliceIndex, endpoint_set, parse_slice
from ingress.model import EndpointSet, Problem
from ingress.store import Body, Key, unpacked


class SliceTracker:
    """The EndpointSlices parsed and grouped by Service, brought up to date on demand.

    Each Service's slices are a dict that is replaced, never changed, so a
    `snapshot` stays valid for a build running in another thread.
    """

    def __init__(self) -> None:
        self._index: dict[Key, Mapping[str, ParsedSlice]] = {}
        self._service_of: dict[Key, Key] = {}  # slice key → the Service it is indexed under
        self._dirty: set[Key] = set()

    def changed(self, key: Key) -> None:
        """The EndpointSlice `key` changed (or went away) in the store."""
        self._dirty.add(key)

    def refresh(self, read: Callable[[Key], Body | None]
                ) -> tuple[set[Key], list[tuple[Key, Problem]]]:
        """Parse the slices changed since the last call, as `read` finds them now: the
        Services they belong or belonged to, and the new problems of each Service's slices."""
        services: set[Key] = set()
        problems: list[tuple[Key, Problem]] = []
        for key in self._dirty:
            old_service = self._service_of.pop(key, None)
            old = None
            if old_service is not None:
                kept = dict(self._index[old_service])
                old = kept.pop(key[1])
                self._set(old_service, kept)
                services.add(old_service)
            body = read(key)
            if body is None:
                continue
            parsed = parse_slice(key, unpacked(body))
            if parsed.service is None:
                continue
            service = (key[0], parsed.service)
            self._set(service, {**self._index.get(service, {}), key[1]: parsed})
            self._service_of[key] = service
            services.add(service)
            if old is None or old.problems != parsed.problems:
                problems += ((service, problem) for problem in parsed.problems)
        self._dirty.clear()
        return services, problems

    def _set(self, service: Key, slices: Mapping[str, ParsedSlice]) -> None:
        if slices:
            self._index[service] = slices
        else:
            del self._index[service]

    def snapshot(self) -> SliceIndex:
        return dict(self._index)

    def endpoint_sets(self, services: Iterable[Key],
                      backends_by_service: Mapping[Key, Mapping[str, str]]
                      ) -> dict[str, EndpointSet]:
        """The endpoint set of every backend of `services`, by backend key."""
        sets: dict[str, EndpointSet] = {}
        for service in services:
            ports = backends_by_service.get(service)
            if ports:
                slices = self._index.get(service)
                for key, port_name in ports.items():
                    sets[key] = endpoint_set(slices, port_name)
        return sets


def changed_sets(sets: Mapping[str, EndpointSet],
                 current: Mapping[str, EndpointSet]) -> dict[str, EndpointSet]:
    """Those of `sets` that differ from the `current` ones."""
    return {key: new for key, new in sets.items()
            if (old := current.get(key)) is not new and old != new}
