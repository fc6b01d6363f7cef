"""TLS: which certificate serves which host, and which hosts redirect to HTTPS.

Runs after every Ingress is parsed, oldest first, so the oldest Ingress
naming a host decides its certificate. A host whose Secret is missing or
invalid, or whose certificate does not name it, gets no certificate here
(the proxy serves the default one) but is still a TLS host.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingress.build.certificates import CertificateLoader, covers
from ingress.build.fields import FieldError
from ingress.build.hosts import wildcard_suffix
from ingress.build.ingress import IngressRequest, TLSClaim
from ingress.model import Certificate, ObjectRef, Problem
from ingress.store import Key


@dataclass(slots=True)
class TLSAssignment:
    certificates: dict[str, Certificate] = field(default_factory=dict)
    wildcard_certificates: dict[str, Certificate] = field(default_factory=dict)
    default_certificate: Certificate | None = None
    # Hosts (as written, `*.x` included) listed in some owned Ingress's spec.tls.
    tls_hosts: set[str] = field(default_factory=set)
    referenced_secrets: set[Key] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)


class TLSAssigner:
    def __init__(self, loader: CertificateLoader) -> None:
        self._loader = loader
        self._reported_secrets: set[Key] = set()
        self.result = TLSAssignment()

    def add_default(self, setting: str | None) -> None:
        """`--default-ssl-certificate ns/name`."""
        if not setting:
            return
        namespace, slash, name = setting.partition("/")
        if not slash or not namespace or not name or "/" in name:
            self.result.problems.append(Problem(
                ObjectRef("Secret", "", setting), "--default-ssl-certificate",
                "must be namespace/name", "InvalidSetting",
            ))
            return
        loaded = self._load((namespace, name))
        if isinstance(loaded, Certificate):
            self.result.default_certificate = loaded
        else:
            where = loaded.field or "--default-ssl-certificate"
            self.result.problems.append(
                Problem(ObjectRef("Secret", namespace, name), where, loaded.message, loaded.reason)
            )

    def add(self, request: IngressRequest) -> None:
        for claim in request.tls:
            self._claim(request, claim)

    def _load(self, secret: Key) -> Certificate | FieldError:
        self.result.referenced_secrets.add(secret)
        return self._loader.load(*secret)

    def _claim(self, request: IngressRequest, claim: TLSClaim) -> None:
        cert: Certificate | None = None
        if claim.secret is not None:
            loaded = self._load(claim.secret)
            if isinstance(loaded, FieldError):
                self._report_secret(request.ref, claim, claim.secret, loaded)
            else:
                cert = loaded
        hosts = claim.hosts
        if not hosts and cert is not None:
            # No hosts: like ingress-nginx, the certificate serves this
            # Ingress's hosts that it names.
            hosts = tuple((claim.field, h) for h in request.rule_hosts if covers(cert, h))
        for where, host in hosts:
            self.result.tls_hosts.add(host)
            if cert is not None:
                self._assign(request.ref, where, host, cert)

    def _assign(self, ingress: ObjectRef, where: str, host: str, cert: Certificate) -> None:
        if not covers(cert, host):
            self.result.problems.append(Problem(
                ingress, where,
                f"the certificate of {cert.secret} does not name {host!r} "
                f"(it names {', '.join(cert.hosts) or 'no DNS names'})",
                "CertificateHostMismatch",
            ))
            return
        suffix = wildcard_suffix(host)
        target = self.result.certificates if suffix is None else self.result.wildcard_certificates
        index = host if suffix is None else suffix
        existing = target.setdefault(index, cert)
        if existing.secret != cert.secret:
            self.result.problems.append(Problem(
                ingress, where,
                f"host {host!r} already uses the certificate of {existing.secret}",
                "Conflict",
            ))

    def _report_secret(
        self, ingress: ObjectRef, claim: TLSClaim, secret: Key, error: FieldError
    ) -> None:
        secret_ref = ObjectRef("Secret", *secret)
        detail = f"{error.field}: {error.message}" if error.field else error.message
        if error.field:
            self.result.problems.append(Problem(
                ingress, f"{claim.field}.secretName", f"{secret_ref}: {detail}", error.reason
            ))
            if secret not in self._reported_secrets:
                self._reported_secrets.add(secret)
                self.result.problems.append(error.problem(secret_ref))
        else:
            self.result.problems.append(
                Problem(ingress, f"{claim.field}.secretName", detail, error.reason)
            )
