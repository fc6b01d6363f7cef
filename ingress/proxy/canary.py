"""Which backend a request to a route with a canary goes to (ingress-nginx's order).

A session cookie pinning the request to either backend decides first;
then the canary header (`always`/`never`, an exact value or a pattern),
then the canary cookie (`always`/`never`), then the weight.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from ingress.model import Backend, Canary, HeaderRule
from ingress.proxy.cookies import cookie_value

if TYPE_CHECKING:
    from ingress.proxy.balancer import Balancers
    from ingress.proxy.exchange import Exchange


def choose_backend(mainline: Backend, canary: Canary, request: Exchange,
                   balancers: Balancers) -> Backend:
    if balancers.affinitized(mainline, request):
        return mainline
    if balancers.affinitized(canary.backend, request):
        return canary.backend
    rules = canary.rules
    if rules.header:
        raw = request.header(rules.header)
        if raw is not None:
            value = raw.decode("latin-1")
            rule = rules.header_rule
            if rule is HeaderRule.VALUE:
                if value == rules.header_value:
                    return canary.backend
            elif rule is HeaderRule.PATTERN:
                assert rules.header_pattern is not None
                if rules.header_pattern.search(value):
                    return canary.backend
            elif rule is HeaderRule.MAINLINE or value == "never":
                return mainline
            elif value == "always":
                return canary.backend
    if rules.cookie:
        cookie = cookie_value(request, rules.cookie)
        if cookie == "always":
            return canary.backend
        if cookie == "never":
            return mainline
    if rules.weight and random.randint(1, rules.weight_total) <= rules.weight:
        return canary.backend
    return mainline
