"""Runners of the response rewrites (ingress.model.filters.responses).

Each edits the header list in place and leaves every other header, and the
untouched parts of a rewritten value, byte for byte as the pod sent them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingress.model.filters.responses import (
    CookieDomain,
    CookiePath,
    RedirectLocation,
    Replacement,
)
from ingress.proxy.filters.registry import ResponseHeader, response_runner

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange


def _regex_replaced(rule: Replacement, value: str) -> str | None:
    """A regex rule replaces a value it matches (anywhere) as a whole."""
    assert rule.regex is not None
    return rule.replacement if rule.regex.compiled.search(value) is not None else None


def _domain_replaced(rule: Replacement, value: str) -> str | None:
    """nginx ignores a leading dot and case; the value's own dot stays."""
    if rule.regex is not None:
        return _regex_replaced(rule, value)
    dot = "." if value.startswith(".") else ""
    if value[len(dot):].lower() != rule.match:
        return None
    return dot + rule.replacement


def _path_replaced(rule: Replacement, value: str) -> str | None:
    if rule.regex is not None:
        return _regex_replaced(rule, value)
    if not value.startswith(rule.match):
        return None
    return rule.replacement + value[len(rule.match):]


def _location_replaced(rule: Replacement, value: str) -> str | None:
    if rule.regex is not None:
        return _regex_replaced(rule, value)
    if value[: len(rule.match)].lower() != rule.match.lower():
        return None
    return rule.replacement + value[len(rule.match):]


def _rewrite_cookies(headers: list[ResponseHeader], attribute: bytes, rule: Replacement,
                     domain: bool) -> None:
    """Rewrite `attribute=` in every Set-Cookie header (the cookie's own pair is never touched)."""
    for index, (name, value) in enumerate(headers):
        if name.lower() != b"set-cookie":
            continue
        parts = value.split(b";")
        changed = False
        for i in range(1, len(parts)):
            part = parts[i]
            stripped = part.lstrip()
            if stripped[: len(attribute)].lower() != attribute:
                continue
            old = stripped[len(attribute):].decode("latin-1")
            new = _domain_replaced(rule, old) if domain else _path_replaced(rule, old)
            if new is not None:
                lead = part[: len(part) - len(stripped)]
                parts[i] = lead + stripped[: len(attribute)] + new.encode("latin-1")
                changed = True
        if changed:
            headers[index] = (name, b";".join(parts))


@response_runner(CookieDomain)
def cookie_domain(exchange: Exchange, headers: list[ResponseHeader], flt: CookieDomain) -> None:
    _rewrite_cookies(headers, b"domain=", flt.rule, domain=True)


@response_runner(CookiePath)
def cookie_path(exchange: Exchange, headers: list[ResponseHeader], flt: CookiePath) -> None:
    _rewrite_cookies(headers, b"path=", flt.rule, domain=False)


@response_runner(RedirectLocation)
def redirect_location(
    exchange: Exchange, headers: list[ResponseHeader], flt: RedirectLocation
) -> None:
    for index, (name, value) in enumerate(headers):
        lname = name.lower()
        if lname == b"location":
            new = _location_replaced(flt.rule, value.decode("latin-1"))
            if new is not None:
                headers[index] = (name, new.encode("latin-1"))
        elif lname == b"refresh":
            # "5; url=http://..." : only the URL after `url=` is rewritten.
            text = value.decode("latin-1")
            at = text.lower().find("url=")
            if at >= 0:
                new = _location_replaced(flt.rule, text[at + 4:])
                if new is not None:
                    headers[index] = (name, (text[: at + 4] + new).encode("latin-1"))
