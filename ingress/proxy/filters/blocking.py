"""Runner of the ConfigMap's global blocks (ingress.model.filters.blocking)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingress.model.filters.blocking import BlockedClients
from ingress.proxy.filters.registry import FilterHost, request_runner

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange


@request_runner(BlockedClients)
def blocked_clients(host: FilterHost, exchange: Exchange, flt: BlockedClients) -> bool:
    if (flt.user_agents.matches(exchange.header(b"user-agent"))
            or flt.referers.matches(exchange.header(b"referer"))):
        host.answer(exchange, 403)
        return True
    return False
