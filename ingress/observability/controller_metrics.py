"""ingress-nginx's controller families: reloads, configuration, certificates, leader, orphans.

As in `internal/ingress/metric/collectors/controller.go`, with Portico's
meaning: a reload is a routing table published (a build that raised is a
failed one, and the last table keeps serving); `config_hash` identifies
the table being served; certificates are those of that table, the default
one under host `_`; an owned Ingress is orphaned `no-service` when a
Service it names does not exist and `no-endpoint` when a backend it routes
to has no endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID
from prometheus_client.metrics_core import Metric

from ingress.build.result import BuildResult
from ingress.model import Backend, Certificate, RoutingTable
from ingress.observability.families import Families

_SSL_LABELS = ("namespace", "class", "host", "secret_name", "identifier")
_SSL_INFO_LABELS = (*_SSL_LABELS, "issuer_organization", "issuer_common_name", "serial_number",
                    "public_key_algorithm")


class ReloadState(Protocol):
    """What `pipeline.Reconciler` exposes about its builds."""

    @property
    def generation(self) -> int: ...  # tables published

    @property
    def failures(self) -> int: ...  # builds that raised

    @property
    def last_build_failed(self) -> bool: ...

    @property
    def last_build_seconds(self) -> float: ...

    @property
    def last_success_at(self) -> float: ...  # epoch seconds, 0 before the first build

    @property
    def last_event_to_swap_seconds(self) -> float: ...

    @property
    def result(self) -> BuildResult | None: ...

    @property
    def table(self) -> RoutingTable: ...  # served: the last build's, with endpoint changes since

    @property
    def endpoint_updates(self) -> int: ...  # endpoint changes sent without a rebuild

    @property
    def config_hash(self) -> int: ...  # identifies the routing of `table`


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """The parts of a certificate ingress-nginx labels its metrics with."""

    identifier: str
    issuer_organization: str
    issuer_common_name: str
    serial_number: str
    public_key_algorithm: str

    @classmethod
    def parse(cls, pem: bytes) -> CertificateInfo:
        cert = x509.load_pem_x509_certificate(pem)  # the leaf: the chain's first block
        issuer = cert.issuer

        def first(oid: x509.ObjectIdentifier) -> str:
            found = issuer.get_attributes_for_oid(oid)
            return str(found[0].value) if found else ""

        serial = str(cert.serial_number)
        return cls(
            # ingress-nginx: "<issuer serialNumber attribute>-<serial>"
            identifier=f"{first(NameOID.SERIAL_NUMBER)}-{serial}",
            issuer_organization=first(NameOID.ORGANIZATION_NAME),
            issuer_common_name=first(NameOID.COMMON_NAME),
            serial_number=serial,
            public_key_algorithm=_key_algorithm(cert.public_key()),
        )


def _key_algorithm(key: object) -> str:
    """Go's x509.PublicKeyAlgorithm names."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ECDSA"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "Ed25519"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA"
    return "Unknown"


def served_certificates(table: RoutingTable) -> Iterator[tuple[str, Certificate]]:
    """(host, certificate) for every certificate the table serves; the default one as `_`."""
    yield from table.certificates.items()
    yield from ((f"*.{suffix}", cert) for suffix, cert in table.wildcard_certificates.items())
    if table.default_certificate is not None:
        yield "_", table.default_certificate


IngressKey = tuple[str, str]


def routed_backends(table: RoutingTable) -> dict[IngressKey, set[Backend]]:
    """The backends the routes of each Ingress send to."""
    found: dict[IngressKey, set[Backend]] = {}
    for route in table.all_routes():
        found.setdefault((route.source.namespace, route.source.name), set()).add(route.backend)
    return found


def orphans(result: BuildResult, routed: Mapping[IngressKey, set[Backend]],
            table: RoutingTable) -> dict[IngressKey, tuple[bool, bool]]:
    """(namespace, name) of each owned Ingress → (no Service, no endpoint in `table`)."""
    missing = {(p.obj.namespace, p.obj.name) for p in result.problems
               if p.reason == "ServiceNotFound"}
    owned = ((ref.namespace, ref.name) for ref in result.owned)
    return {key: (key in missing, any(not table.endpoint_set(backend).usable
                                      for backend in routed.get(key, ())))
            for key in owned}


class ControllerCollector:
    def __init__(self, reloads: ReloadState, families: Families,
                 leader: Callable[[], bool] | None, election_id: str) -> None:
        self._reloads = reloads
        self._families = families
        self._leader = leader
        self._election_id = election_id
        self._certificates: dict[str, CertificateInfo] = {}  # by fingerprint
        # The backends of each Ingress, for the build they were read from: endpoints change
        # between builds, routes do not.
        self._routed_of: tuple[BuildResult | None, dict[IngressKey, set[Backend]]] = (None, {})

    def collect(self) -> Iterator[Metric]:
        f = self._families
        reloads = self._reloads
        result = reloads.result
        yield self._gauge("config_hash", "Running configuration hash actually running",
                          reloads.config_hash if result is not None else 0)
        yield self._gauge("config_last_reload_successful",
                          "Whether the last configuration reload attempt was successful",
                          0 if reloads.last_build_failed or result is None else 1)
        yield self._gauge("config_last_reload_successful_timestamp_seconds",
                          "Timestamp of the last successful configuration reload.",
                          reloads.last_success_at)
        yield self._counter("success", "Cumulative number of Ingress controller reload operations",
                            reloads.generation)
        yield self._counter(
            "errors", "Cumulative number of Ingress controller errors during reload operations",
            reloads.failures)
        table = result.table if result is not None else RoutingTable()
        yield from self._ssl(served_certificates(table))
        if self._leader is not None:
            leader = f.new("leader_election_status",
                           "Gauge reporting status of the leader election, 0 indicates follower, "
                           "1 indicates leader. 'name' is the string used to identify the lease",
                           "gauge")
            f.sample(leader, "", ("name",), (self._election_id,), int(self._leader()))
            yield leader
        orphan = f.new("orphan_ingress",
                       "Gauge reporting status of ingress orphanity, 1 indicates orphaned "
                       "ingress. 'type' is 'no-service' or 'no-endpoint'", "gauge")
        for (namespace, name), flags in sorted(
                orphans(result, self._routed(result), reloads.table).items() if result else ()):
            for kind, flag in zip(("no-service", "no-endpoint"), flags, strict=True):
                f.sample(orphan, "", ("namespace", "ingress", "type"), (namespace, name, kind),
                         int(flag))
        yield orphan
        build = f.new("build_info", "A metric with a constant '1' labeled with information "
                      "about the build.", "gauge")
        f.sample(build, "", ("release", "build", "repository"),
                 (_version(), "unknown", "portico"), 1)
        yield build

    def _gauge(self, name: str, help_text: str, value: float) -> Metric:
        metric = self._families.new(name, help_text, "gauge")
        self._families.sample(metric, "", (), (), value)
        return metric

    def _counter(self, name: str, help_text: str, value: float) -> Metric:
        metric = self._families.new(name, help_text, "counter")
        self._families.sample(metric, "", (), (), value)
        return metric

    def _routed(self, result: BuildResult) -> dict[IngressKey, set[Backend]]:
        of, routed = self._routed_of
        if of is not result:
            routed = routed_backends(result.table)
            self._routed_of = (result, routed)
        return routed

    def _ssl(self, served: Iterable[tuple[str, Certificate]]) -> Iterator[Metric]:
        f = self._families
        expiry = f.new(
            "ssl_expire_time_seconds",
            "Number of seconds since 1970 to the SSL Certificate expire. An example to check if "
            "this certificate will expire in 10 days is: "
            '"nginx_ingress_controller_ssl_expire_time_seconds < (time() + (10 * 24 * 3600))"',
            "gauge")
        info = f.new("ssl_certificate_info", "Hold all labels associated to a certificate",
                     "gauge")
        known: dict[str, CertificateInfo] = {}
        for host, cert in served:
            parsed = known.get(cert.fingerprint) or self._certificates.get(cert.fingerprint)
            if parsed is None:
                parsed = CertificateInfo.parse(cert.cert_pem)
            known[cert.fingerprint] = parsed
            ssl = (cert.secret.namespace, self._families.controller_class, host, cert.secret.name,
                   parsed.identifier)
            f.sample(expiry, "", _SSL_LABELS, ssl, cert.not_after)
            f.sample(info, "", _SSL_INFO_LABELS,
                     (*ssl, parsed.issuer_organization, parsed.issuer_common_name,
                      parsed.serial_number, parsed.public_key_algorithm), 1)
        self._certificates = known  # certificates no longer served are forgotten
        yield expiry
        yield info


def _version() -> str:
    try:
        return metadata.version("portico")
    except metadata.PackageNotFoundError:
        return "unknown"
