"""ExternalName Services: their names resolved off the request path, again when the TTL ends.

As in ingress-nginx, the proxy resolves an ExternalName itself (A records,
AAAA when there is no A), with the resolver's search domains, so that
`externalName: echo` finds `echo.<namespace>.svc.cluster.local`. Each name
has one task that resolves it when a table first names it and again when
its TTL runs out; requests read the last answer and never wait for DNS. A
name that resolves to nothing (or not yet) has no endpoints: its routes
answer 503. dnspython is imported when a table first names an ExternalName:
a worker that never needs it saves the memory (a few MB per process).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import TYPE_CHECKING

from ingress.model import Backend, Endpoint

if TYPE_CHECKING:
    import dns.asyncresolver

log = logging.getLogger(__name__)

# After a failed lookup, and the least time an answer is kept.
_RETRY = 5.0
_MIN_TTL = 1.0
_LIFETIME = 5.0  # seconds a lookup may take, retries included


class ExternalNames:
    def __init__(self, loop: asyncio.AbstractEventLoop, dns_server: str | None) -> None:
        self._loop = loop
        self._dns_server = dns_server
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._addresses: dict[str, tuple[str, ...]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # (name, port) → the current addresses, and endpoints made of them.
        self._endpoints: dict[tuple[str, int], tuple[tuple[str, ...], tuple[Endpoint, ...]]] = {}

    def follow(self, names: set[str]) -> None:
        """Resolve the names a new table uses; stop following the others."""
        for name in [n for n in self._tasks if n not in names]:
            self._tasks.pop(name).cancel()
            self._addresses.pop(name, None)
        for name in names - self._tasks.keys():
            ip = canonical_ip(name)
            if ip is not None:
                self._addresses[name] = (ip,)
            self._tasks[name] = self._loop.create_task(self._resolve_forever(name))
        for key in [k for k in self._endpoints if k[0] not in names]:
            del self._endpoints[key]

    def endpoints(self, backend: Backend) -> tuple[Endpoint, ...]:
        """The current addresses of `backend`'s name, at its port."""
        key = (backend.external_name, backend.external_port)
        addresses = self._addresses.get(backend.external_name, ())
        known = self._endpoints.get(key)
        if known is not None and known[0] == addresses:
            return known[1]  # the same tuple while the answer lasts: balancers cache by it
        endpoints = tuple(Endpoint(ip, backend.external_port) for ip in addresses)
        self._endpoints[key] = (addresses, endpoints)
        return endpoints

    def resolved(self, name: str) -> tuple[str, ...]:
        return self._addresses.get(name, ())

    def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    async def _resolve_forever(self, name: str) -> None:
        if canonical_ip(name) is not None:
            return  # an address needs no resolving
        while True:
            addresses, ttl = await self._resolve(name)
            if addresses != self._addresses.get(name):
                log.info("ExternalName %s resolves to %s", name, ", ".join(addresses) or "nothing")
            self._addresses[name] = addresses
            await asyncio.sleep(ttl)

    def _dns(self) -> dns.asyncresolver.Resolver:
        """The resolver, made when a name is first resolved."""
        if self._resolver is None:
            import dns.asyncresolver

            self._resolver = resolver = dns.asyncresolver.Resolver(
                configure=self._dns_server is None)
            if self._dns_server:
                server = self._dns_server
                host, _, port = server.rpartition(":") if server.count(":") == 1 \
                    else (server, "", "")
                resolver.nameservers = [host]
                resolver.port = int(port) if port else 53
        return self._resolver

    async def _resolve(self, name: str) -> tuple[tuple[str, ...], float]:
        import dns.exception
        import dns.rdatatype
        import dns.resolver

        resolver = self._dns()
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                answer = await resolver.resolve(name, rdtype, search=True,
                                                      lifetime=_LIFETIME)
            except dns.resolver.NoAnswer:
                continue
            except dns.exception.DNSException as error:
                log.warning("ExternalName %s: %s", name, error)
                return (), _RETRY
            addresses = tuple(sorted(record.address for record in answer))
            ttl = answer.rrset.ttl if answer.rrset is not None else _RETRY
            return addresses, max(float(ttl), _MIN_TTL)
        return (), _RETRY


def canonical_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
