"""Client certificates (mutual TLS): a host's policy and the check every request of it gets.

As nginx's ssl_verify_client, which ingress-nginx sets per host (server)
from the oldest Ingress of that host with auth-tls-secret: the TLS layer
asks the host's clients for a certificate and verifies it against the
Secret's CA bundle, without ending the handshake when that fails; each
request then gets 400 (or a redirect to the error page) if the
certificate it needed is missing or failed, 403 if its subject does not
match auth-tls-match-cn, and the ssl-client-* headers upstream.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from ingress.model.filters.base import Filter, Phase
from ingress.model.matches import Regex
from ingress.model.objects import ObjectRef


class VerifyClient(StrEnum):
    ON = "on"  # a certificate is required and must verify
    OPTIONAL = "optional"  # none is fine; one that is sent must verify
    OPTIONAL_NO_CA = "optional_no_ca"  # asked for, never required to verify
    OFF = "off"  # not asked for


@dataclass(frozen=True, slots=True)
class ClientAuth:
    """A host's client-certificate policy. `error`: the Secret could not be used, and
    the host answers 403 to everything (ingress-nginx's AuthTLSError)."""

    secret: ObjectRef
    ca_pem: bytes = b""
    verify: VerifyClient = VerifyClient.ON
    depth: int = 1
    # Where a failed verification redirects to, instead of answering 400.
    error_page: str | None = None
    pass_certificate: bool = False  # the URL-encoded PEM in ssl-client-cert
    # Must match (search) the subject DN, e.g. "CN=(alice|bob)"; None: any subject.
    match_cn: Regex | None = None
    error: str = ""
    # Identifies the policy's TLS side (CA, verification, depth): its contexts and sessions.
    fingerprint: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tls_side = b"%s|%s|%d" % (self.ca_pem, self.verify.value.encode(), self.depth)
        object.__setattr__(self, "fingerprint", hashlib.sha256(tls_side).hexdigest())

    @property
    def requests_certificate(self) -> bool:
        return self.verify is not VerifyClient.OFF and not self.error


@dataclass(frozen=True, slots=True)
class ClientCertificateCheck(Filter):
    """Every route of a host with a ClientAuth runs it first (nginx checks at server level)."""

    PHASE: ClassVar[Phase] = Phase.REWRITE
    policy: ClientAuth
