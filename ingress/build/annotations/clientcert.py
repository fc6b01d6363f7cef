"""Client certificates: auth-tls-secret, -verify-client, -verify-depth, -error-page,
-pass-certificate-to-upstream, -match-cn.

The policy goes on a ClientCertificateCheck filter; the builder then gives
it to every route of the Ingress's hosts (ingress.build.clientauth), as
nginx applies it to the whole server. A Secret that cannot be used, or a
match-cn that is not a pattern, makes the host answer 403 to everything,
as ingress-nginx's AuthTLSError does: never unauthenticated.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from cryptography import x509

from ingress.build.annotations import values
from ingress.build.annotations.basicauth import secret_key
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import ObjectRef, Regex, compile_regex
from ingress.model.filters.clientcert import ClientAuth, ClientCertificateCheck, VerifyClient

CA_KEY = "ca.crt"
CRL_KEY = "ca.crl"
_ERROR_PAGE = re.compile(r"@[A-Za-z0-9_-]+|((https?://)?[A-Za-z0-9\-.]+(:\d+)?)?(/[A-Za-z0-9\-_.]+)*/?")


def _verify(value: str) -> VerifyClient:
    try:
        return VerifyClient(value.strip())
    except ValueError:
        raise values.InvalidValue(f"must be on, off, optional or optional_no_ca, not {value!r}; "
                                  "on applies") from None


def _depth(value: str) -> int:
    depth = values.integer(value)
    if depth < 0:
        raise values.InvalidValue(f"must be 0 or more, not {value!r}")
    return depth


def _error_page(value: str) -> str:
    text = value.strip()
    if not text or not _ERROR_PAGE.fullmatch(text) or text.startswith("@"):
        raise values.InvalidValue(f"must be a URL or a path, not {value!r}; failed "
                                  "verifications answer 400")
    return text


def _match_cn(value: str) -> Regex:
    if not value.startswith("CN="):
        raise values.InvalidValue(f"must start with CN=, not {value!r}")
    try:
        # nginx: `$ssl_client_s_dn !~ "value"`, a search anywhere in the subject.
        return compile_regex(f"(?s).*?(?:{value})")
    except ValueError as error:
        raise values.InvalidValue(str(error)) from None


def _ca_bundle(annotations: Annotations, key: tuple[str, str]) -> tuple[bytes, str]:
    """The Secret's CA certificates (PEM), or why they cannot be used."""
    body = annotations.lookups.secrets.get(key)
    ref = ObjectRef("Secret", *key)
    if body is None:
        return b"", f"{ref} not found"
    data = body.get("data")
    data = data if isinstance(data, Mapping) else {}
    raw = data.get(CA_KEY)
    if not isinstance(raw, str):
        return b"", f'{ref} has no "{CA_KEY}" key'
    try:
        pem = base64.b64decode(raw, validate=True)
        x509.load_pem_x509_certificates(pem)
    except (binascii.Error, ValueError) as error:
        return b"", f'{ref} data["{CA_KEY}"] is not a PEM certificate bundle: {error}'
    if CRL_KEY in data:
        annotations.report("auth-tls-secret", f'{ref} has a "{CRL_KEY}": Portico does not check '
                           "revocation lists, revoked certificates are accepted", "Difference")
    return pem, ""


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    if "auth-tls-secret" not in annotations.values:
        return
    verify = annotations.parsed("auth-tls-verify-client", _verify) or VerifyClient.ON
    depth = annotations.parsed("auth-tls-verify-depth", _depth) or 1
    error_page = annotations.parsed("auth-tls-error-page", _error_page)
    if error_page is not None and "://" not in error_page:
        annotations.report("auth-tls-error-page", "a path is redirected to (302), not served "
                           "in place as nginx's error_page serves it", "Difference")
    passes = annotations.parsed("auth-tls-pass-certificate-to-upstream", values.boolean)
    match_cn = annotations.parsed("auth-tls-match-cn", _match_cn)
    key = secret_key(annotations, "auth-tls-secret")
    ref = ObjectRef("Secret", *key) if key is not None else ObjectRef("Secret", "", "")
    pem, error = _ca_bundle(annotations, key) if key is not None else (b"", "no usable Secret")
    if error:
        annotations.report("auth-tls-secret", f"{error}: the host answers 403",
                           "SecretNotFound" if "not found" in error else "InvalidAuthSecret")
    elif annotations.invalid("auth-tls-match-cn"):
        error = "auth-tls-match-cn is invalid"
    policy = ClientAuth(ref, pem, verify, depth, error_page, bool(passes), match_cn, error)
    spec.filters.append(ClientCertificateCheck(policy))
