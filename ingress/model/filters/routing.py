"""Filters of ingress-nginx's routing annotations: regex rewrites and host redirects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ingress.model.filters.base import Filter, Phase


@dataclass(frozen=True, slots=True)
class Template:
    """Text with nginx's capture references `$0`…`$9`: literal strings and group numbers."""

    parts: tuple[str | int, ...]

    def expand(self, match: Any) -> str:
        """The text with each reference replaced by that group of `match` ('' when unset).

        `match` is a regex match object, or None (every reference is then '').
        """
        if match is None:
            return "".join(p for p in self.parts if isinstance(p, str))
        groups = (match.group(0), *match.groups())
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part < len(groups):
                out.append(groups[part] or "")
        return "".join(out)


@dataclass(frozen=True, slots=True)
class RewritePath(Filter):
    """nginx's `rewrite "(?i)<route path>" <target> break`: the whole path becomes `target`.

    References in `target` are the captures of the route's regex on the
    request path; the query string is kept. `forwarded_prefix`, when set,
    is sent upstream as X-Forwarded-Prefix (ingress-nginx sets it only on
    rewritten routes). With `log` (enable-rewrite-log), each rewrite is logged,
    as nginx's rewrite_log writes it.
    """

    PHASE: ClassVar[Phase] = Phase.REWRITE
    target: Template
    forwarded_prefix: Template | None = None
    log: bool = False


@dataclass(frozen=True, slots=True)
class HostRedirect(Filter):
    """Send every request to the same scheme, port and target on host `to` (from-to-www)."""

    PHASE: ClassVar[Phase] = Phase.REWRITE
    to: str
    status: int = 308
