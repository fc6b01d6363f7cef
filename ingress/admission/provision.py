"""Keep the generated webhook certificate in a Secret and its CA in the webhook configuration.

Every replica runs this at start: the first creates the Secret, the others
read it, so all serve one certificate; each then makes sure the
ValidatingWebhookConfiguration trusts its CA (the same value: idempotent).
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from ingress.admission.certificate import WebhookCertificate, generate, service_dns_names
from ingress.operator.api import ApiError, KubeClient

log = logging.getLogger(__name__)

_WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"


async def shared_certificate(client: KubeClient, secret: tuple[str, str],
                             service: tuple[str, str]) -> WebhookCertificate:
    """The certificate in Secret `secret`, created (for `service`'s names) if absent."""
    namespace, name = secret
    path = f"/api/v1/namespaces/{namespace}/secrets/{name}"
    for _ in range(2):
        try:
            found = await client.get(path)
        except ApiError as error:
            if error.status != 404:
                raise
        else:
            return WebhookCertificate.from_secret_data(found.get("data") or {})
        certificate = generate(service_dns_names(*service))
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace,
                             "labels": {"app.kubernetes.io/managed-by": "portico"}},
                "data": certificate.secret_data()}
        try:
            await client.post(f"/api/v1/namespaces/{namespace}/secrets", body)
        except ApiError as error:
            if error.status != 409:  # another replica created it first: read theirs
                raise
            continue
        log.info("created the admission webhook certificate in Secret %s/%s", namespace, name)
        return certificate
    raise RuntimeError(f"Secret {namespace}/{name} keeps changing; cannot read it")


async def trust_in_webhook(client: KubeClient, webhook: str, service: tuple[str, str],
                           ca_pem: bytes) -> bool:
    """Set caBundle on the webhooks that call `service`; True if anything changed."""
    current = await client.get(f"{_WEBHOOKS}/{webhook}")
    bundle = base64.b64encode(ca_pem).decode()
    hooks: list[dict[str, Any]] = [dict(h) for h in current.get("webhooks") or ()]
    changed = False
    for hook in hooks:
        config = dict(hook.get("clientConfig") or {})
        target = config.get("service") or {}
        if (target.get("namespace"), target.get("name")) != service:
            continue
        if config.get("caBundle") != bundle:
            config["caBundle"] = bundle
            hook["clientConfig"] = config
            changed = True
    if changed:
        version = (current.get("metadata") or {}).get("resourceVersion")
        await client.merge_patch(f"{_WEBHOOKS}/{webhook}", {
            "metadata": {"resourceVersion": version}, "webhooks": hooks})
        log.info("wrote the admission CA into ValidatingWebhookConfiguration %s", webhook)
    return changed
