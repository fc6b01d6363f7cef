"""Runners of the core filters (ingress.model.filters.core)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from ingress.model.filters.core import (
    AppRoot,
    DirectResponse,
    HeaderEdits,
    Network,
    Redirect,
    RequestHeaders,
    ResponseHeaders,
    SourceRanges,
)
from ingress.proxy.filters.registry import (
    FilterHost,
    ResponseHeader,
    request_runner,
    response_runner,
)

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange


@request_runner(DirectResponse)
def direct_response(host: FilterHost, exchange: Exchange, flt: DirectResponse) -> bool:
    host.answer(exchange, flt.status)
    return True


@request_runner(Redirect)
def redirect(host: FilterHost, exchange: Exchange, flt: Redirect) -> bool:
    location = flt.location
    if location.startswith("/") and not flt.relative:
        # nginx's absolute_redirect: the request's scheme and host name; the port only
        # with port_in_redirect, and not when it is the scheme's own.
        listener = host.listener
        port = listener.public_port
        shown = flt.port_in_redirect and port != (b"443" if listener.tls else b"80")
        authority = f"{exchange.host}:{port.decode()}" if shown else exchange.host
        location = f"{listener.scheme.decode()}://{authority}{location}"
    host.redirect(exchange, flt.status, location)
    return True


@request_runner(AppRoot)
def app_root(host: FilterHost, exchange: Exchange, flt: AppRoot) -> bool:
    if exchange.path != "/":
        return False
    # ingress-nginx: `return 302 $scheme://$http_host<app-root>`.
    http_host = (exchange.header(b"host") or b"").decode("latin-1")
    host.redirect(exchange, 302, f"{host.listener.scheme.decode()}://{http_host}{flt.location}")
    return True


@request_runner(SourceRanges)
def source_ranges(host: FilterHost, exchange: Exchange, flt: SourceRanges) -> bool:
    if source_allows(host.client_address, flt):
        return False
    host.answer(exchange, 403)
    return True


def source_allows(client_address: str, flt: SourceRanges) -> bool:
    try:
        address = ipaddress.ip_address(client_address)
    except ValueError:
        return False
    if flt.allow and not _within(address, flt.allow):
        return False
    return not (flt.deny and _within(address, flt.deny))


def _within(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
            networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


@request_runner(RequestHeaders)
def request_headers(host: FilterHost, exchange: Exchange, flt: RequestHeaders) -> bool:
    exchange.add_header_edits(flt.edits)
    return False


@response_runner(ResponseHeaders)
def response_headers(
    exchange: Exchange, headers: list[ResponseHeader], flt: ResponseHeaders
) -> None:
    edit_headers(headers, flt.edits)


def edit_headers(headers: list[ResponseHeader], edits: HeaderEdits) -> None:
    """Apply `edits` to a header list in place (names compared case-insensitively)."""
    replaced = edits.replaced
    if replaced:
        headers[:] = [h for h in headers if h[0].lower() not in replaced]
    headers.extend(edits.set)
    headers.extend(edits.add)
