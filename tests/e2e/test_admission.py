"""`portico run --admission-port`: AdmissionReviews POSTed over TLS as the API server sends them."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import trustme

from e2e.harness import Manifests, Portico, eventually, free_port
from kube import objects as o
from kube.harness import running_api, write_kubeconfig

WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"


def review_of(body: dict[str, Any], uid: str = "r-1") -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "operation": "CREATE", "namespace": "default",
                        "kind": {"group": "networking.k8s.io", "version": "v1",
                                 "kind": "Ingress"},
                        "object": body}}


async def post_review(port: int, context: ssl.SSLContext, body: dict[str, Any],
                      server_hostname: str | None = None) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.post(
        f"https://127.0.0.1:{port}/validate", json=review_of(body), ssl=context,
        server_hostname=server_hostname,
    ) as response:
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
        return answer["response"]


async def test_reviews_over_tls_with_mounted_certificate_files(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "tls.pem"))
    manifests = Manifests(tmp_path / "m")
    manifests.write("base.yaml", [o.ingress_class(), o.service("web"),
                                  o.ingress("old", host="shop.example", path="/cart")])
    port = free_port()
    portico = Portico(manifests.root, "--admission-port", str(port),
                      "--admission-cert-file", str(tmp_path / "tls.pem"),
                      "--admission-key-file", str(tmp_path / "tls.pem"), log=tmp_path / "p.log")
    try:
        portico.wait_ready()
        client = ssl.create_default_context()
        ca.configure_trust(client)
        allowed = await eventually(
            lambda: post_review(port, client, o.ingress("new", host="shop.example", path="/")),
            "the webhook answers")
        assert allowed == {"uid": "r-1", "allowed": True}
        # Same host and path as the older Ingress: the new one would not get it.
        denied = await post_review(port, client,
                                   o.ingress("new", host="shop.example", path="/cart"))
        assert denied["allowed"] is False
        assert "is already routed by Ingress default/old" in denied["status"]["message"]
        # ingress-nginx's admission families count both reviews and time the last one.
        checked = {"namespace": "default", "ingress": "new"}
        assert portico.metric("nginx_ingress_controller_check_success", **checked) == 1
        assert portico.metric("nginx_ingress_controller_check_errors", **checked) == 1
        assert portico.metric("nginx_ingress_controller_admission_tested_ingresses") == 2
        assert portico.metric("nginx_ingress_controller_admission_roundtrip_duration") > 0
    finally:
        portico.stop()


async def test_generated_certificate_is_shared_and_trusted_by_the_webhook_config(
    tmp_path: Path,
) -> None:
    async with running_api() as api:
        api.emulator.put("networking.k8s.io/v1/ingressclasses", o.ingress_class())
        await api.call("POST", WEBHOOKS, {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "portico-admission"},
            "webhooks": [{"name": "validate.portico.dev", "sideEffects": "None",
                          "admissionReviewVersions": ["v1"],
                          "clientConfig": {"service": {"namespace": "ingress",
                                                       "name": "portico-admission",
                                                       "path": "/validate"}}}]})
        port = free_port()
        portico = Portico(None, "--kubeconfig", str(write_kubeconfig(tmp_path, api.url)),
                          "--controller-namespace", "ingress", "--admission-port", str(port),
                          "--admission-webhook", "portico-admission", log=tmp_path / "p.log")
        try:
            async def bundle() -> str | None:
                hook = api.stored("validatingwebhookconfigurations", "portico-admission", ns=None)
                value: str | None = ((hook or {}).get("webhooks") or [{}])[0].get(
                    "clientConfig", {}).get("caBundle")
                return value
            ca_bundle = await eventually(bundle, "the CA in the webhook configuration", 20)
            secret = api.stored("secrets", "portico-admission", ns="ingress")
            assert secret is not None and secret["data"]["ca.crt"] == ca_bundle
            client = ssl.create_default_context(cadata=base64.b64decode(ca_bundle).decode())
            # Verified as the API server does: by the Service's DNS name, against caBundle.
            answer = await eventually(lambda: post_review(
                port, client, o.ingress("x", path="relative"),
                server_hostname="portico-admission.ingress.svc"), "the webhook answers")
            assert answer["allowed"] is False
            assert "spec.rules[0].http.paths[0].path: must be absolute" in answer["status"][
                "message"]
        finally:
            portico.stop()
