"""The admission webhook objects: a webhook configuration calling the controller's port."""

from __future__ import annotations

from chart_objects import Manifest, Render, container, container_port, flags, of_kind, one
from conftest import SCENARIOS
from helm_render import NAMESPACE, RELEASE

NAME = f"{RELEASE}-admission"


def webhook(manifests: list[Manifest]) -> dict[str, object]:
    [hook] = one(manifests, "ValidatingWebhookConfiguration", NAME)["webhooks"]
    found: dict[str, object] = hook
    return found


def test_off_by_default(render: Render) -> None:
    manifests = render({})
    assert not of_kind(manifests, "ValidatingWebhookConfiguration")
    assert not any(flag.startswith("admission") for flag in flags(manifests))


def test_the_webhook_reviews_ingress_writes_through_its_service(render: Render) -> None:
    manifests = render({"admissionWebhook": {"enabled": True}})
    hook = webhook(manifests)
    assert hook["rules"] == [{"apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"],
                              "operations": ["CREATE", "UPDATE"], "resources": ["ingresses"],
                              "scope": "*"}]
    # An unreachable webhook must not block every Ingress change in the cluster.
    assert hook["failurePolicy"] == "Ignore" and hook["sideEffects"] == "None"
    assert hook["clientConfig"] == {"service": {"namespace": NAMESPACE, "name": NAME,
                                                "path": "/validate", "port": 443}}
    service = one(manifests, "Service", NAME)["spec"]
    [port] = service["ports"]
    assert port["port"] == 443
    assert container_port(manifests, port["targetPort"]) == 8444 != 8443
    assert {k: v for k, v in flags(manifests).items() if k.startswith("admission")} == {
        "admission-port": "8444", "admission-service": NAME, "admission-secret": NAME,
        "admission-webhook": NAME}


def test_cert_manager_issues_the_certificate_and_injects_the_ca(render: Render) -> None:
    manifests = render(SCENARIOS["daemonset-nodeport"])
    configuration = one(manifests, "ValidatingWebhookConfiguration", NAME)
    assert configuration["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": f"{NAMESPACE}/{NAME}"}
    certificate = one(manifests, "Certificate", NAME)["spec"]
    assert certificate["dnsNames"] == [f"{NAME}.{NAMESPACE}.svc",
                                       f"{NAME}.{NAMESPACE}.svc.cluster.local"]
    assert certificate["issuerRef"] == {"kind": "Issuer", "name": NAME}
    assert one(manifests, "Issuer", NAME)["spec"] == {"selfSigned": {}}
    mounts = {m["name"]: m["mountPath"] for m in container(manifests)["volumeMounts"]}
    assert mounts["admission-certificate"] == "/etc/portico/admission"
    admission_flags = {k: v for k, v in flags(manifests).items() if k.startswith("admission")}
    assert admission_flags == {
        "admission-port": "8444", "admission-service": NAME,
        "admission-cert-file": "/etc/portico/admission/tls.crt",
        "admission-key-file": "/etc/portico/admission/tls.key"}


def test_an_existing_issuer_can_be_named(render: Render) -> None:
    manifests = render({"admissionWebhook": {"enabled": True, "certManager": {
        "enabled": True, "issuerRef": {"kind": "ClusterIssuer", "name": "corp-ca"}}}})
    assert not of_kind(manifests, "Issuer")
    assert one(manifests, "Certificate", NAME)["spec"]["issuerRef"] == {
        "kind": "ClusterIssuer", "name": "corp-ca"}
