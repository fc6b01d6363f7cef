"""The Ingress admission webhook: `portico run --admission-port PORT`.

Started next to the proxy; reviews Ingresses against the live store with
the pure builder (review.py). Its certificate comes from files
(cert-manager) and is reloaded when they change, or is generated and
shared through a Secret, with the CA written into the webhook
configuration (provision.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ingress.admission.certificate import generate, service_dns_names
from ingress.admission.server import start_admission
from ingress.build.endpoints import SliceIndex
from ingress.observability.admission_metrics import AdmissionStats
from ingress.settings import Settings
from ingress.store import Snapshot
from ingress.tls.pem_memory import load_pem_chain

if TYPE_CHECKING:  # kopf (under the operator's client) is imported only for a cluster
    from ingress.operator.api import KubeClient

log = logging.getLogger(__name__)

# How often mounted certificate files are checked for a rotation, and a failed start retried.
_RECHECK = 30.0

__all__ = ["run_webhook"]


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def _generated_context(settings: Settings, client: KubeClient | None) -> ssl.SSLContext:
    namespace = settings.own_namespace
    service = (namespace, settings.admission_service)
    if client is None:  # no cluster (--manifests): nobody else needs to trust it
        certificate = generate(service_dns_names(*service))
    else:
        from ingress.admission.provision import shared_certificate, trust_in_webhook

        certificate = await shared_certificate(client, (namespace, settings.admission_secret),
                                               service)
        if settings.admission_webhook:
            await trust_in_webhook(client, settings.admission_webhook, service,
                                   certificate.ca_pem)
    context = _context()
    load_pem_chain(context, certificate.cert_pem, certificate.key_pem)
    return context


class _CertificateFiles:
    """Mounted certificate files (cert-manager): loaded again when they change."""

    def __init__(self, cert: str, key: str) -> None:
        self.paths = (cert, key)
        self.signature: tuple[float, ...] = ()

    def changed(self) -> bool:
        return tuple(os.stat(path).st_mtime for path in self.paths) != self.signature

    def load(self, context: ssl.SSLContext) -> None:
        self.signature = tuple(os.stat(path).st_mtime for path in self.paths)
        context.load_cert_chain(*self.paths)  # new handshakes use it


async def run_webhook(settings: Settings, snapshot: Callable[[], Snapshot],
                      client: KubeClient | None, stats: AdmissionStats,
                      stop: asyncio.Event, slices: Callable[[], SliceIndex] | None = None,
                      ) -> None:
    """Serve the webhook until `stop`; a failed start is logged and retried, never fatal."""
    files = None
    if settings.admission_cert_file and settings.admission_key_file:
        files = _CertificateFiles(settings.admission_cert_file, settings.admission_key_file)
    runner: web.AppRunner | None = None
    context = _context()
    try:
        while not stop.is_set():
            try:
                if runner is None:
                    if files is not None:
                        files.load(context)
                    else:
                        context = await _generated_context(settings, client)
                    runner = await start_admission(settings.bind, settings.admission_port,
                                                   context, snapshot, settings.build, stats,
                                                   slices)
                    log.info("admission webhook listening", extra={"port": settings.admission_port})
                elif files is not None and files.changed():
                    files.load(context)
                    log.info("admission webhook certificate reloaded")
            except Exception as error:  # RBAC, an API outage, unreadable files: try again later
                log.error("admission webhook: %s; retrying in %.0f s", error, _RECHECK)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _RECHECK)
    finally:
        if runner is not None:
            await runner.cleanup()
