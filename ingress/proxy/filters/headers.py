"""Runner of proxy-set-headers (ingress.model.filters.headers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingress.model.filters.core import HeaderEdits
from ingress.model.filters.headers import ProxySetHeaders
from ingress.proxy.filters.registry import FilterHost, request_runner
from ingress.proxy.variables import render

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange


@request_runner(ProxySetHeaders)
def proxy_set_headers(host: FilterHost, exchange: Exchange, flt: ProxySetHeaders) -> bool:
    exchange.add_header_edits(HeaderEdits(set=tuple(
        (name, render(value, host, exchange).encode("latin-1")) for name, value in flt.headers)))
    return False
