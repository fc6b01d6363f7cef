"""How each supported ConfigMap key is read, and ingress-nginx's default for it.

Values are text, as in every ConfigMap; they are read the way ingress-nginx
reads them (Go's `strconv` for booleans and numbers, nginx's syntax for
sizes and time). A key the ConfigMap leaves out takes ingress-nginx's
default, written here as its documentation writes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingress.build.annotations import extauth, values
from ingress.build.annotations.balancing import load_balance
from ingress.build.annotations.buffering import buffers, on_off
from ingress.build.annotations.responses import cookie_domain, cookie_path, url_text
from ingress.build.annotations.servertls import cipher_list
from ingress.build.annotations.values import InvalidValue
from ingress.build.config.access import READINGS as ACCESS_READINGS
from ingress.build.config.guards import READINGS as GUARD_READINGS
from ingress.build.config.headers import READINGS as HEADER_READINGS
from ingress.model.filters.extauth import Template

_TRUE = frozenset(("1", "t", "T", "TRUE", "true", "True"))
_FALSE = frozenset(("0", "f", "F", "FALSE", "false", "False"))
_TLS_VERSIONS = {"TLSv1.2": "1.2", "TLSv1.3": "1.3"}
_OLD_TLS = frozenset(("SSLv2", "SSLv3", "TLSv1", "TLSv1.1"))


def boolean(value: str) -> bool:
    """Go's strconv.ParseBool, as ingress-nginx reads a ConfigMap."""
    text = value.strip()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValue(f"must be true or false, not {value!r}")


def header_buffers(value: str) -> int:
    """large-client-header-buffers: "NUMBER SIZE", the head's total size in bytes."""
    parts = value.split()
    if len(parts) != 2:
        raise InvalidValue(f"must be 'NUMBER SIZE' like '4 8k', not {value!r}")
    return values.whole_number(parts[0]) * values.size(parts[1])


def tls_versions(value: str) -> tuple[str, str]:
    """ssl-protocols → (oldest, newest) as Portico's TLS settings name them."""
    names = value.split()
    old = [name for name in names if name in _OLD_TLS]
    if old:
        raise InvalidValue(f"{', '.join(old)} are not supported (TLSv1.2 and TLSv1.3 are)")
    unknown = [name for name in names if name not in _TLS_VERSIONS]
    if unknown or not names:
        raise InvalidValue(f"must list TLSv1.2 and/or TLSv1.3, not {value!r}")
    versions = sorted(_TLS_VERSIONS[name] for name in names)
    return versions[0], versions[-1]


def http_codes(value: str) -> frozenset[int]:
    """custom-http-errors: comma-separated codes; ingress-nginx keeps 300-599."""
    codes = set()
    for item in value.split(","):
        text = item.strip()
        if not text:
            continue
        if not text.isdigit() or not 300 <= int(text) <= 599:
            raise InvalidValue(f"{text!r} is not an HTTP status code 300-599")
        codes.add(int(text))
    return frozenset(codes)


def header_names(value: str) -> tuple[str, ...]:
    """global-allowed-response-headers: comma-separated names, kept as written."""
    names = tuple(item.strip() for item in value.split(",") if item.strip())
    for name in names:
        if not values.header_name(name):
            raise InvalidValue(f"{name!r} is not a header name")
    return names


def one_header_name(value: str) -> str:
    """forwarded-for-header: the name of the header the client address is read from."""
    name = value.strip()
    if not values.header_name(name):
        raise InvalidValue(f"{value!r} is not a header name")
    return name


def http_redirect_code(value: str) -> int:
    """The codes ingress-nginx takes for its HTTPS and www redirects."""
    code = values.whole_number(value)
    if code not in (301, 302, 307, 308):
        raise InvalidValue(f"must be 301, 302, 307 or 308, not {value!r}")
    return code


def optional_size(value: str) -> int | None:
    """A size; empty means nginx's own choice."""
    return values.size(value) if value.strip() else None


def optional_template(value: str) -> Template | None:
    """Text with nginx variables; empty means none."""
    return extauth.template(value.strip()) if value.strip() else None


def checked(parse: Callable[[str], Any]) -> Callable[[str], str]:
    """The value's text, once `parse` accepts it (for keys used as text)."""

    def read(value: str) -> str:
        parse(value)
        return value.strip()

    return read


@dataclass(frozen=True, slots=True)
class Reading:
    """How one key's value is read, and ingress-nginx's default text for it."""

    parse: Callable[[str], Any]
    default: str


READINGS: dict[str, Reading] = {
    "allow-cross-namespace-resources": Reading(boolean, "false"),
    "client-body-buffer-size": Reading(values.size, "8k"),
    "client-body-timeout": Reading(values.whole_seconds, "60"),
    "client-header-timeout": Reading(values.whole_seconds, "60"),
    "compute-full-forwarded-for": Reading(boolean, "false"),
    "custom-http-errors": Reading(http_codes, ""),
    "disable-access-log": Reading(boolean, "false"),
    "disable-proxy-intercept-errors": Reading(boolean, "false"),
    "enable-access-log-for-default-backend": Reading(boolean, "false"),
    "enable-opentelemetry": Reading(boolean, "false"),
    "enable-real-ip": Reading(boolean, "false"),
    "force-ssl-redirect": Reading(boolean, "false"),
    "forwarded-for-header": Reading(one_header_name, "X-Forwarded-For"),
    "generate-request-id": Reading(boolean, "true"),
    "global-allowed-response-headers": Reading(header_names, ""),
    "hsts": Reading(boolean, "true"),
    "http-redirect-code": Reading(http_redirect_code, "308"),
    "http2-max-concurrent-streams": Reading(values.whole_number, "128"),
    "use-http2": Reading(boolean, "true"),
    "hsts-include-subdomains": Reading(boolean, "true"),
    "hsts-max-age": Reading(values.whole_number, "31536000"),
    "hsts-preload": Reading(boolean, "false"),
    "keep-alive": Reading(values.whole_seconds, "75"),
    "keep-alive-requests": Reading(values.whole_number, "1000"),
    "large-client-header-buffers": Reading(header_buffers, "4 8k"),
    "load-balance": Reading(load_balance, "round_robin"),
    "max-worker-connections": Reading(values.whole_number, "16384"),
    "opentelemetry-operation-name": Reading(optional_template, ""),
    "opentelemetry-trust-incoming-span": Reading(boolean, "true"),
    "proxy-body-size": Reading(values.size, "1m"),
    "proxy-buffer-size": Reading(values.size, "4k"),
    "proxy-buffering": Reading(on_off, "off"),
    "proxy-buffers-number": Reading(buffers, "4"),
    "proxy-busy-buffers-size": Reading(optional_size, ""),
    "proxy-connect-timeout": Reading(values.whole_seconds, "5"),
    "preserve-trailing-slash": Reading(boolean, "false"),
    "proxy-cookie-domain": Reading(checked(cookie_domain), "off"),
    "proxy-cookie-path": Reading(checked(cookie_path), "off"),
    "proxy-http-version": Reading(values.http_version, "1.1"),
    "proxy-max-temp-file-size": Reading(values.size, "1024m"),
    "proxy-next-upstream": Reading(values.next_upstream, "error timeout"),
    "proxy-next-upstream-timeout": Reading(values.whole_seconds, "0"),
    "proxy-next-upstream-tries": Reading(values.whole_number, "3"),
    "proxy-read-timeout": Reading(values.whole_seconds, "60"),
    "proxy-real-ip-cidr": Reading(checked(values.networks), "0.0.0.0/0"),
    "proxy-protocol-header-timeout": Reading(values.seconds, "5s"),
    "proxy-redirect-from": Reading(url_text, "off"),
    "proxy-redirect-to": Reading(url_text, "off"),
    "proxy-request-buffering": Reading(on_off, "on"),
    "proxy-send-timeout": Reading(values.whole_seconds, "60"),
    "relative-redirects": Reading(boolean, "false"),
    "retry-non-idempotent": Reading(boolean, "false"),
    "service-upstream": Reading(boolean, "false"),
    "ssl-ciphers": Reading(cipher_list, (
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
        "DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256"
    )),
    "ssl-protocols": Reading(tls_versions, "TLSv1.2 TLSv1.3"),
    "ssl-redirect": Reading(boolean, "true"),
    "strict-validate-path-type": Reading(boolean, "true"),
    "upstream-keepalive-connections": Reading(values.whole_number, "320"),
    "upstream-keepalive-requests": Reading(values.whole_number, "10000"),
    "upstream-keepalive-timeout": Reading(values.whole_seconds, "60"),
    "use-forwarded-headers": Reading(boolean, "false"),
    "use-proxy-protocol": Reading(boolean, "false"),
    "use-port-in-redirects": Reading(boolean, "false"),
    **{key: Reading(parse, default) for key, (parse, default) in GUARD_READINGS.items()},
    **{key: Reading(parse, default) for key, (parse, default) in ACCESS_READINGS.items()},
    **{key: Reading(parse, default) for key, (parse, default) in HEADER_READINGS.items()},
    # Accepted for compatibility; what they control is fixed in Portico (see the catalog).
    "allow-snippet-annotations": Reading(boolean, "false"),
    "log-format-escape-json": Reading(boolean, "false"),
    "server-tokens": Reading(boolean, "false"),
}
