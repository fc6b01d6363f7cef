"""Request mirroring: a copy of each request goes elsewhere, and its answer is ignored.

Two front ends: ingress-nginx's mirror-target (a URL, with nginx variables)
and Gateway API's RequestMirror filter (a Service's endpoints, for a share
of the requests). The client never waits for the copy: it leaves when the
request is let through (after access checks, nginx's precontent phase), its
body follows as the client sends it, and a mirror that is slow or down
loses copies instead of holding the request back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ingress.model.backends import Backend
from ingress.model.filters.base import Filter, Phase
from ingress.model.filters.extauth import Template


@dataclass(frozen=True, slots=True)
class Mirror(Filter):
    """Send a copy of the request to `url` or to one endpoint of `backend` (one of the two).

    `url`: where copies go; its path (with its variables) replaces the
    request's, and a URL without variables keeps the request's query, as
    nginx's proxy_pass does; one without a path gets the request's target.
    `host`: the Host of the copies (mirror-host; None: the URL's host name,
    or the request's own for a `backend`). `body`: the request body is
    copied too (mirror-request-body). `ratio`: the share of requests copied.
    """

    PHASE: ClassVar[Phase] = Phase.CONTENT
    url: Template | None = None
    backend: Backend | None = None
    host: str | None = None
    body: bool = True
    ratio: float = 1.0
