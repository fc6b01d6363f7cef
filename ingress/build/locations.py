"""One host's paths → its VirtualHost, matched the way ingress-nginx's nginx matches them.

ingress-nginx renders each path as nginx locations (controller.go
updateServerLocations, template.go buildLocation):

- Exact `/foo` is `location = /foo`.
- Prefix `/foo` is `location = /foo` plus `location /foo/`: the Ingress
  spec's element-wise prefix. `VirtualHost.prefixes` walks it directly.
- ImplementationSpecific `/foo` is `location /foo`: a plain string prefix
  (`/foobar` too). With any such path the host's prefixes become strings
  (`VirtualHost.strings`) so that the longest of either kind wins.
- Once a path of the host has a rewrite or use-regex, every location of
  the host becomes `location ~* "^<path>"`: a case-insensitive regex
  matched from the path's start, tried longest path first (ties: the
  greater string first), the first that matches wins. Exact and Prefix
  paths then lose their exactness, as they do in ingress-nginx.

nginx's catch-all `location /` has no counterpart here: a request that no
location takes falls through to the host-less rules and the default backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import re2

from ingress.build.ingress import PathClaim
from ingress.model import PathType, Regex, Route, VirtualHost, compile_regex, normalize_prefix


def virtual_host(name: str, claims: Sequence[PathClaim], tls: bool,
                 app_root: Route | None) -> VirtualHost:
    """The VirtualHost of host `name` from its claims (oldest first, one per location key).

    `app_root` answers `/` before any location, as the server-level `if`
    ingress-nginx writes for app-root does.
    """
    if any(claim.enforces_regex for claim in claims):
        vhost = VirtualHost(name, regexes=_regex_locations(claims), tls=tls)
    else:
        vhost = _plain_host(name, claims, tls)
    if app_root is None:
        return vhost
    return replace(vhost, exact={**vhost.exact, "/": app_root})


def _plain_host(name: str, claims: Sequence[PathClaim], tls: bool) -> VirtualHost:
    exact: dict[str, Route] = {}
    prefixes: dict[str, Route] = {}
    strings: dict[str, Route] = {}
    for claim in claims:
        route = claim.route
        if route.path_type is PathType.EXACT:
            exact[route.path] = route
            continue
        if route.path_type is PathType.PREFIX:
            prefixes[normalize_prefix(route.path)] = route
        strings[claim.key] = route
    if len(strings) == len(prefixes):  # no ImplementationSpecific path
        return VirtualHost(name, exact, prefixes, tls=tls)
    # `= /foo` of each Prefix `/foo`, unless an Exact path has it already.
    for key, route in prefixes.items():
        if key:
            exact.setdefault(key, route)
    return VirtualHost(name, exact, tls=tls, strings=strings)


def _regex_locations(claims: Sequence[PathClaim]) -> tuple[Route, ...]:
    exact_paths = {c.route.path for c in claims if c.route.path_type is PathType.EXACT}
    locations: list[tuple[str, PathClaim]] = []
    for claim in claims:
        path = claim.route.path
        if claim.route.path_type is PathType.PREFIX and not claim.enforces_regex and path != "/":
            with_slash = path if path.endswith("/") else path + "/"
            locations.append((with_slash, claim))
            if path != with_slash and path not in exact_paths:
                locations.append((path, claim))
        else:
            locations.append((path, claim))
    # controller.go: a stable sort by path, descending, then by length, descending.
    locations.sort(key=lambda location: location[0], reverse=True)
    locations.sort(key=lambda location: len(location[0].encode()), reverse=True)
    return tuple(replace(claim.route, regex=_regex(path, claim)) for path, claim in locations)


def _regex(path: str, claim: PathClaim) -> Regex:
    if claim.regex is not None and path == claim.route.path:
        return claim.regex
    try:
        return compile_regex(path, case_insensitive=True)
    except ValueError:
        # A path no one meant as a regex that RE2 cannot read: match it literally.
        return compile_regex(re2.escape(path), case_insensitive=True)
