"""Runner of the client-certificate check (ingress.model.filters.clientcert).

What nginx does before it picks a location, in its order: 403 for a host
whose policy could not be set up; 421 for a request whose host asks for
certificates under another policy than its connection's handshake did
(nginx's answer when SNI and Host disagree); 400, or a redirect to the
error page, for a certificate that is required but missing (nginx's 496)
or that failed verification (495); 403 when auth-tls-match-cn does not
match the subject. These answers come before the route's own filters, so
they carry none of its response headers (CORS...). A request that goes on
takes ssl-client-verify, -subject-dn, -issuer-dn (and -cert when passed)
upstream, replacing any the client sent. Over plain HTTP nobody presented
a certificate: the verdict is NONE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingress.model.filters.clientcert import ClientCertificateCheck, VerifyClient
from ingress.model.filters.core import HeaderEdits
from ingress.proxy.filters.registry import ANSWERED, NEXT, FilterHost, request_runner
from ingress.proxy.peer import NO_PEER

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange

_SET_HERE = frozenset((b"ssl-client-verify", b"ssl-client-subject-dn", b"ssl-client-issuer-dn",
                       b"ssl-client-cert"))
_MUST_VERIFY = frozenset((VerifyClient.ON, VerifyClient.OPTIONAL))


def _refuse(host: FilterHost, exchange: Exchange, status: int) -> int:
    exchange.response_filters = ()  # answered before nginx picks the location
    host.answer(exchange, status)
    return ANSWERED


@request_runner(ClientCertificateCheck)
def client_certificate(host: FilterHost, exchange: Exchange, flt: ClientCertificateCheck) -> int:
    policy = flt.policy
    if policy.error:
        return _refuse(host, exchange, 403)
    peer = host.peer_certificate()
    if peer is None:
        peer = NO_PEER  # plain HTTP
    elif policy.requests_certificate and peer.policy != policy.fingerprint:
        return _refuse(host, exchange, 421)
    if policy.verify in _MUST_VERIFY:
        failed = peer.verify.startswith("FAILED")
        missing = policy.verify is VerifyClient.ON and peer.verify == "NONE"
        if failed or missing:
            if policy.error_page is None:
                return _refuse(host, exchange, 400)
            exchange.response_filters = ()
            host.redirect(exchange, 302, policy.error_page)
            return ANSWERED
    if policy.match_cn is not None and policy.match_cn.prefix_match(peer.subject) is None:
        return _refuse(host, exchange, 403)
    headers = [(b"ssl-client-verify", peer.verify.encode("latin-1")),
               (b"ssl-client-subject-dn", peer.subject.encode("utf-8")),
               (b"ssl-client-issuer-dn", peer.issuer.encode("utf-8"))]
    if policy.pass_certificate and peer.escaped_pem:
        headers.append((b"ssl-client-cert", peer.escaped_pem.encode("ascii")))
    # nginx sends no header whose value is empty.
    exchange.add_header_edits(HeaderEdits(set=tuple(h for h in headers if h[1]),
                                          remove=_SET_HERE))
    return NEXT
