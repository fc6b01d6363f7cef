"""Redirects: ssl-redirect, force-ssl-redirect, preserve-trailing-slash,
permanent/temporal-redirect(-code), relative-redirects, use-port-in-redirects,
app-root, from-to-www-redirect.

Locations are made absolute from the request, as nginx does: a redirect
target that is a path gets the request's scheme and host (nginx's
absolute_redirect, off with relative-redirects, which the ConfigMap's key
of that name sets for every Ingress), and the listening port when
use-port-in-redirects is on and the port is not the scheme's own (nginx's
port_in_redirect); `app-root` becomes `$scheme://$http_host<path>`.
"""

from __future__ import annotations

from dataclasses import replace

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model.filters.core import Redirect


def _temporal_code(value: str) -> int:
    code = values.redirect_code(value)
    if code == 308:  # ingress-nginx takes 300-307 here
        raise values.InvalidValue(f"must be a redirect status code 300-307, not {value!r}")
    return code


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    ssl_redirect = annotations.parsed("ssl-redirect", values.boolean)
    forced = annotations.parsed("force-ssl-redirect", values.boolean)
    preserve = annotations.parsed("preserve-trailing-slash", values.boolean)
    if ssl_redirect is not None or forced is not None or preserve is not None:
        # What an annotation does not say, the ConfigMap does (ingress-nginx's defBackend).
        base = spec.ssl_redirect
        spec.ssl_redirect = replace(
            base,
            enabled=ssl_redirect if ssl_redirect is not None else base.enabled,
            forced=forced if forced is not None else base.forced,
            preserve_trailing_slash=preserve if preserve is not None
            else base.preserve_trailing_slash,
        )
    temporal = annotations.parsed("temporal-redirect", values.redirect_target)
    temporal_code = annotations.parsed("temporal-redirect-code", _temporal_code)
    permanent = annotations.parsed("permanent-redirect", values.redirect_target)
    permanent_code = annotations.parsed("permanent-redirect-code", values.redirect_code)
    config = annotations.lookups.config
    relative = annotations.parsed("relative-redirects", values.boolean)
    with_port = annotations.parsed("use-port-in-redirects", values.boolean)
    absolute = {
        "relative": config.relative_redirects if relative is None else relative,
        "port_in_redirect": config.port_in_redirects if with_port is None else with_port,
    }
    # ingress-nginx checks the temporal redirect first.
    if temporal is not None:
        spec.filters.append(Redirect(temporal_code or 302, temporal, **absolute))
    elif permanent is not None:
        spec.filters.append(Redirect(permanent_code or 301, permanent, **absolute))
    spec.app_root = annotations.parsed("app-root", values.absolute_path)
    if annotations.parsed("from-to-www-redirect", values.boolean):
        spec.from_to_www = True
