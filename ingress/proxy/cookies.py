"""Reading request cookies and query arguments the way nginx's `$cookie_x` and `$arg_x` do."""

from __future__ import annotations

from typing import Protocol


class HasHeaders(Protocol):
    headers: list[tuple[bytes, bytes, bytes]]


def cookie_value(request: HasHeaders, name: str) -> str | None:
    """The value of the first cookie called `name` in the request's Cookie headers."""
    wanted = name.encode("latin-1")
    for _, lname, value in request.headers:
        if lname != b"cookie":
            continue
        for pair in value.split(b";"):
            key, eq, found = pair.strip().partition(b"=")
            if eq and key == wanted:
                return found.decode("latin-1")
    return None


def query_argument(url: bytes, name: str) -> str | None:
    """The first `name=` argument of the target's query, as sent (nginx: case-insensitive name)."""
    query_at = url.find(b"?")
    if query_at < 0:
        return None
    wanted = name.lower().encode("latin-1")
    for pair in url[query_at + 1:].split(b"&"):
        key, _, value = pair.partition(b"=")
        if key.lower() == wanted:
            return value.decode("latin-1")
    return None
