"""nginx variables of a request, for the templates of external authentication.

Each variable is what ingress-nginx's configuration makes of it: `$host`
is the request's host without port, `$http_host` the Host header as sent,
`$escaped_request_uri` the original target percent-encoded whole (nginx's
set_escape_uri), `$http_x_name`, `$cookie_name` and `$arg_name` a request
header, cookie or query argument.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

from ingress.model.filters.extauth import Template

if TYPE_CHECKING:
    from ingress.proxy.dataplane import Listener
    from ingress.proxy.exchange import Exchange


class Side(Protocol):
    """The client connection of a request, as far as variables read it."""

    @property
    def client_address(self) -> str: ...
    @property
    def listener(self) -> Listener: ...


def variable(name: str, side: Side, exchange: Exchange) -> str:
    """The value of `$name` for this request ('' when it has none)."""
    url = exchange.url.decode("latin-1")
    query_at = url.find("?")
    if name in ("host", "server_name"):
        return exchange.host
    if name in ("http_host", "best_http_host"):
        return _header(exchange, "host")
    if name in ("scheme", "pass_access_scheme"):
        return side.listener.scheme.decode()
    if name == "request_uri":
        return url
    if name == "request":
        return f"{exchange.method.decode('latin-1')} {url} HTTP/1.1"
    if name == "escaped_request_uri":
        return quote(url, safe="")
    if name == "uri":
        return exchange.path
    if name in ("args", "query_string"):
        return url[query_at + 1:] if query_at >= 0 else ""
    if name == "is_args":
        return "?" if query_at >= 0 else ""
    if name == "request_method":
        return exchange.method.decode("latin-1")
    if name == "remote_addr":
        return side.client_address
    if name in ("server_port", "pass_server_port"):
        return side.listener.public_port.decode()
    if name == "req_id":
        return exchange.request_id.decode("latin-1")
    if name.startswith("http_"):
        return _header(exchange, name[len("http_"):].replace("_", "-"))
    if name.startswith("cookie_"):
        return _cookie(exchange, name[len("cookie_"):])
    if name.startswith("arg_"):
        return exchange.query_value(name[len("arg_"):]) or ""
    raise KeyError(name)  # the builder lets no other name through


def render(template: Template, side: Side, exchange: Exchange) -> str:
    literal = template.literal
    if literal is not None:
        return literal
    parts = template.parts
    return "".join(part if i % 2 == 0 else variable(part, side, exchange)
                   for i, part in enumerate(parts))


def _header(exchange: Exchange, lname: str) -> str:
    values = [value for _, name, value in exchange.headers if name == lname.encode("latin-1")]
    return b", ".join(values).decode("latin-1")


def _cookie(exchange: Exchange, name: str) -> str:
    for _, lname, value in exchange.headers:
        if lname == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            jar.load(value.decode("latin-1"))
            morsel = jar.get(name)
            if morsel is not None:
                return morsel.value
    return ""
