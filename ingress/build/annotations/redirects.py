"""Redirects: ssl-redirect, force-ssl-redirect, permanent/temporal-redirect(-code), app-root."""

from __future__ import annotations

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import SslRedirect
from ingress.model.filters.core import AppRoot, Redirect


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    ssl_redirect = annotations.parsed("ssl-redirect", values.boolean)
    forced = annotations.parsed("force-ssl-redirect", values.boolean)
    if ssl_redirect is not None or forced is not None:
        spec.ssl_redirect = SslRedirect(
            enabled=ssl_redirect if ssl_redirect is not None else True,
            forced=bool(forced),
        )
    temporal = annotations.parsed("temporal-redirect", values.absolute_url)
    temporal_code = annotations.parsed("temporal-redirect-code", values.redirect_code)
    permanent = annotations.parsed("permanent-redirect", values.absolute_url)
    permanent_code = annotations.parsed("permanent-redirect-code", values.redirect_code)
    # ingress-nginx checks the temporal redirect first.
    if temporal is not None:
        spec.filters.append(Redirect(temporal_code or 302, temporal))
    elif permanent is not None:
        spec.filters.append(Redirect(permanent_code or 301, permanent))
    app_root = annotations.parsed("app-root", values.absolute_path)
    if app_root is not None:
        spec.filters.append(AppRoot(app_root))
