"""Host-wide annotations: server-alias, from-to-www-redirect and app-root."""

from __future__ import annotations

from typing import Any

import trustme
from build_objects import ingress, path, problem_fields, rule, run, service, tls_secret

from ingress.model import PathType
from ingress.model.filters.core import AppRoot
from ingress.model.filters.routing import HostRedirect

P = "nginx.ingress.kubernetes.io/"
SERVICES = [service("web"), service("other")]


def ing(name: str, host: str, path_value: str = "/", annotations: dict[str, str] | None = None,
        created: int = 0, path_type: str = "Prefix", **extra: Any) -> dict[str, Any]:
    """An Ingress of one path; those named from "b" on route to Service `other`."""
    entry = path(path_value, "web" if name < "b" else "other", path_type=path_type)
    return ingress(name, [rule(host, entry)], annotations=annotations,
                   created=f"2024-01-01T00:00:{created:02}Z", **extra)


def test_an_alias_serves_the_routes_of_its_host() -> None:
    result = run(ing("a", "foo", annotations={P + "server-alias": "bar, *.baz.com"}), *SERVICES)
    assert result.problems == ()
    for host in ("foo", "bar", "x.baz.com"):
        route = result.table.route(host, "/")
        assert route is not None and route.backend.service == "web", host


def test_aliases_apply_to_every_path_of_the_host_and_never_take_a_real_host() -> None:
    # ingress-nginx e2e (alias.go): two Ingresses of host foo, one with the alias.
    app_a = ing("a", "foo", "/app-a", created=0)
    app_b = ing("b", "foo", "/app-b", {P + "server-alias": "bar, real"}, created=1)
    real = ing("c-real", "real", "/", created=2)
    table = run(app_a, app_b, real, *SERVICES).table
    route = table.route("bar", "/app-a")
    assert route is not None and route.path == "/app-a"
    route = table.route("real", "/app-a")
    assert route is not None and route.path == "/"


def test_the_oldest_ingress_of_a_host_decides_its_aliases() -> None:
    first = ing("a", "foo", "/a", {P + "server-alias": "one"}, created=0)
    second = ing("b", "foo", "/b", {P + "server-alias": "two"}, created=1)
    table = run(second, first, *SERVICES).table
    assert table.route("one", "/b") is not None and table.route("two", "/b") is None


def test_from_to_www_redirect_adds_the_other_name() -> None:
    table = run(ing("a", "fromtowwwredirect.bar.com", annotations={
        P + "from-to-www-redirect": "true"}), *SERVICES).table
    route = table.route("www.fromtowwwredirect.bar.com", "/foo")
    assert route is not None and route.filters == (HostRedirect("fromtowwwredirect.bar.com"),)
    table = run(ing("a", "www.example.com", annotations={
        P + "from-to-www-redirect": "true"}), *SERVICES).table
    route = table.route("example.com", "/")
    assert route is not None and route.filters == (HostRedirect("www.example.com"),)


def test_from_to_www_redirect_never_takes_a_host_an_ingress_routes() -> None:
    redirecting = ing("a", "foo.com", annotations={P + "from-to-www-redirect": "true"})
    table = run(redirecting, ing("b-www", "www.foo.com"), *SERVICES).table
    route = table.route("www.foo.com", "/")
    assert route is not None and route.backend.service == "other" and route.filters == ()


def test_app_root_redirects_slash_of_the_whole_host_before_any_path() -> None:
    root = ing("a", "approot.bar.com", "/app", {P + "app-root": "/foo"})
    exact_root = ing("b", "approot.bar.com", "/", path_type="Exact", created=1)
    result = run(root, exact_root, *SERVICES)
    route = result.table.route("approot.bar.com", "/")
    assert route is not None and route.filters == (AppRoot("/foo"),)
    assert route.path_type is PathType.EXACT and not route.ssl_redirect.enabled
    other = result.table.route("approot.bar.com", "/app/x")
    assert other is not None and other.filters == ()


def _secret(name: str, *hosts: str) -> dict[str, Any]:
    leaf = trustme.CA().issue_cert(*hosts)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    return tls_secret(name, chain, leaf.private_key_pem.bytes())


def test_aliases_and_www_names_share_the_host_certificate_only_when_it_names_them() -> None:
    body = ing("a", "foo.com", annotations={P + "server-alias": "covered.com, bare.com",
                                            P + "from-to-www-redirect": "true"},
               tls=[{"hosts": ["foo.com"], "secretName": "tls"}])
    table = run(body, _secret("tls", "foo.com", "www.foo.com", "covered.com"), *SERVICES).table
    assert set(table.certificates) == {"foo.com", "www.foo.com", "covered.com"}
    # Only a name the certificate covers redirects plain HTTP to HTTPS.
    assert table.hosts["covered.com"].tls and not table.hosts["bare.com"].tls


def test_a_bad_alias_is_reported_and_ignored() -> None:
    result = run(ing("a", "foo", annotations={P + "server-alias": "ok, ~^re.*$"}), *SERVICES)
    assert problem_fields(result) == [
        ("Ingress default/a", f'metadata.annotations["{P}server-alias"]', "InvalidAnnotation")]
    assert result.table.route("ok", "/") is None
