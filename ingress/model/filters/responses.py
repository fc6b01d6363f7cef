"""Rewrites of what the pods answer: Set-Cookie attributes and redirect locations.

nginx's proxy_cookie_domain, proxy_cookie_path and proxy_redirect. Each
replaces a text at the start of a value (the cookie domain as a whole); a
pattern written with a leading `~` (`~*`: case-insensitive) is a regular
expression instead, and a value it matches is replaced as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingress.model.filters.base import ResponseFilter
from ingress.model.matches import Regex


@dataclass(frozen=True, slots=True)
class Replacement:
    """`match` (or `regex`) → `replacement`."""

    match: str
    replacement: str
    regex: Regex | None = None


@dataclass(frozen=True, slots=True)
class CookieDomain(ResponseFilter):
    """Set-Cookie `domain=` attributes equal to `rule.match` (case and a leading dot aside)."""

    rule: Replacement


@dataclass(frozen=True, slots=True)
class CookiePath(ResponseFilter):
    """Set-Cookie `path=` attributes starting with `rule.match`."""

    rule: Replacement


@dataclass(frozen=True, slots=True)
class RedirectLocation(ResponseFilter):
    """Location and Refresh headers starting with `rule.match` (case aside)."""

    rule: Replacement
