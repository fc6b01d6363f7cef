"""Runners of the Gateway API filters (ingress.model.filters.gateway)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingress.model.filters.gateway import (
    PathModifier,
    ReplaceFullPath,
    RequestRedirect,
    URLRewrite,
)
from ingress.proxy.filters.registry import FilterHost, request_runner
from ingress.proxy.target import path_target

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange


def modified_path(path: str, modifier: PathModifier) -> str:
    """`path` after a ReplaceFullPath or ReplacePrefixMatch (the HTTPPathModifier table)."""
    if isinstance(modifier, ReplaceFullPath):
        return modifier.path
    # The route matched, so the path starts with the prefix at a `/` boundary.
    rest = path[len(modifier.matched.rstrip("/")) :]
    return (modifier.replacement.rstrip("/") + rest) or "/"


def _split_target(target: bytes) -> tuple[str, str]:
    text = target.decode("latin-1")
    query_at = text.find("?")
    return (text, "") if query_at < 0 else (text[:query_at], text[query_at:])


def _modified_target_path(exchange: Exchange, modifier: PathModifier) -> str:
    """The prefix the route matched is a prefix of the canonical path, not of the raw target."""
    return path_target(modified_path(exchange.path, modifier))


@request_runner(RequestRedirect)
def request_redirect(host: FilterHost, exchange: Exchange, flt: RequestRedirect) -> bool:
    path, query = _split_target(exchange.url)
    if flt.path is not None:
        path = _modified_target_path(exchange, flt.path)
    authority = flt.hostname or exchange.host
    if flt.port is not None:
        authority = f"{authority}:{flt.port}"
    host.redirect(exchange, flt.status, f"{flt.scheme}://{authority}{path}{query}")
    return True


@request_runner(URLRewrite)
def url_rewrite(host: FilterHost, exchange: Exchange, flt: URLRewrite) -> bool:
    _, query = _split_target(exchange.target)
    exchange.target = (_modified_target_path(exchange, flt.path) + query).encode("latin-1")
    return False
