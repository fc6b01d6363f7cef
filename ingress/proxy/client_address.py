"""The one client address: who sent a request, as far as Portico can trust it.

By default the client is the TCP peer (or the source a PROXY protocol header
names, when the balancer that sent it is trusted), and any `X-Forwarded-For`
the client sent is discarded, as ingress-nginx does without
`use-forwarded-headers`. With forwarded headers on, the address is taken
from the configured header by walking it from the right through trusted
hops only (nginx's `real_ip_recursive on`): each hop vouches for the one
before it, so the first address a trusted hop did not add is the client,
and a client cannot make itself look like anyone by sending the header.

The address found here is the one allow-lists, rate limits, logs and
metrics all use, and what the upstream receives in `X-Real-IP` and
`X-Forwarded-For`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from ingress.proxy.exchange import Header
from ingress.proxy.target import BadTarget, host_name
from ingress.settings import Settings, ip_networks

Network = IPv4Network | IPv6Network


IP = IPv4Address | IPv6Address


def parse_ip(text: str) -> IP | None:
    """An address as the networks are written: IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as IPv4."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_hop(text: str) -> IP | None:
    """One forwarded-for entry: `ip`, `ip:port`, `[ipv6]` or `[ipv6]:port`; None if invalid."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    return parse_ip(text)


class ClientAddresses:
    """What this proxy trusts, from the settings; one per data plane."""

    __slots__ = ("compute_full", "header", "trusted", "use_headers")

    def __init__(self, settings: Settings) -> None:
        if settings.trusted_proxies:
            self.trusted = ip_networks(settings.trusted_proxies)
        else:
            self.trusted = ip_networks(settings.proxy_real_ip_cidr)
        self.use_headers = settings.use_forwarded_headers or bool(settings.trusted_proxies)
        self.header = settings.forwarded_for_header.strip().lower().encode("latin-1")
        # ingress-nginx keeps the incoming chain only with use-forwarded-headers as well.
        self.compute_full = settings.compute_full_forwarded_for and self.use_headers

    def trusts(self, ip: str) -> bool:
        address = parse_ip(ip)
        return address is not None and _within(address, self.trusted)

    def headers_trusted(self, peer: str) -> bool:
        """Whether forwarded headers from this peer are read at all (once per connection)."""
        return self.use_headers and self.trusts(peer)

    def walk(self, peer: str, values: Iterable[bytes]) -> str:
        """The client behind a trusted `peer`, from forwarded-for header values."""
        hops = [hop for value in values for hop in value.decode("latin-1").split(",")]
        address = parse_ip(peer)
        client = peer
        for hop in reversed(hops):
            if address is None or not _within(address, self.trusted):
                break
            address = parse_hop(hop)
            if address is not None:
                client = str(address)
        return client


def _within(address: IP, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


class Forwarded:
    """The client address of one request and the forwarded headers it carries upstream."""

    __slots__ = ("block", "client", "host")

    def __init__(self, client: str, block: bytes, host: bytes) -> None:
        self.client = client
        self.block = block  # x-forwarded-for, x-real-ip, -proto and -port lines
        self.host = host  # x-forwarded-host value; b"" means the request's own host


_FORWARDED_FOR = b"x-forwarded-for: "


def fixed_block(client: str, forwarded_for: bytes, scheme: bytes, port: bytes) -> bytes:
    return _FORWARDED_FOR + (
        b"%s\r\nx-real-ip: %s\r\nx-forwarded-proto: %s\r\n"
        b"x-forwarded-port: %s\r\n" % (forwarded_for, client.encode(), scheme, port)
    )


def forwarded_for(block: bytes) -> bytes:
    """The X-Forwarded-For value of a block `fixed_block` made (its first line)."""
    return block[len(_FORWARDED_FOR):block.index(b"\r\n")]


def forwarded(
    addresses: ClientAddresses,
    peer: str,
    trusted: bool,
    headers: list[Header],
    scheme: bytes,
    port: bytes,
) -> Forwarded:
    """Client address and forwarded headers of a request that needs more than the peer.

    That is a request from a trusted peer (its headers are believed), or any
    request when `compute-full-forwarded-for` appends the peer to the
    client's own `X-Forwarded-For`.
    """
    values: list[bytes] = []
    incoming: list[bytes] = []
    forwarded_host = b""
    name = addresses.header
    for _, lname, value in headers:
        if lname == b"x-forwarded-for":
            incoming.append(value)
        if not trusted:
            continue
        if lname == name:
            values.append(value)
        elif lname == b"x-forwarded-proto":
            if value.strip().lower() in (b"http", b"https"):
                scheme = value.strip().lower()
        elif lname == b"x-forwarded-port":
            if value.strip().isdigit():
                port = value.strip()
        elif lname == b"x-forwarded-host":
            try:
                host_name(value)
            except BadTarget:
                continue
            forwarded_host = value
    client = addresses.walk(peer, values) if values else peer
    if not addresses.compute_full:
        forwarded_for = client.encode()
    elif incoming:
        forwarded_for = b", ".join(incoming) + b", " + peer.encode()
    else:
        forwarded_for = peer.encode()
    return Forwarded(client, fixed_block(client, forwarded_for, scheme, port), forwarded_host)
