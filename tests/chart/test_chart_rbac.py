"""The controller's ServiceAccount gets exactly the rights the controller uses.

Rights are computed the way the API server grants them: follow each binding
of the ServiceAccount to its role, scoped to the binding's namespace (or the
whole cluster for a ClusterRoleBinding).
"""

from __future__ import annotations

from chart_objects import Manifest, Render, of_kind, one
from conftest import SCENARIOS
from helm_render import NAMESPACE, RELEASE

# (namespace or "*" for cluster-wide, API group, resource, verb, object name or "*")
Grant = tuple[str, str, str, str, str]
CLUSTER = "*"
ANY = "*"


def grants(manifests: list[Manifest]) -> set[Grant]:
    account = one(manifests, "ServiceAccount")["metadata"]
    roles = {(m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]): m
             for m in manifests if m["kind"] in ("Role", "ClusterRole")}
    granted: set[Grant] = set()
    bound = set()
    for binding in of_kind(manifests, "RoleBinding") + of_kind(manifests, "ClusterRoleBinding"):
        subjects = {(s["kind"], s["namespace"], s["name"]) for s in binding["subjects"]}
        assert subjects == {("ServiceAccount", account["namespace"], account["name"])}
        scope = binding["metadata"].get("namespace")
        ref = binding["roleRef"]
        key = (ref["kind"], scope if ref["kind"] == "Role" else None, ref["name"])
        assert key in roles, f"{binding['metadata']['name']} binds missing {key}"
        bound.add(key)
        for rule in roles[key]["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        for name in rule.get("resourceNames", [ANY]):
                            granted.add((scope or CLUSTER, group, resource, verb, name))
    assert bound == set(roles), f"roles bound to nothing: {set(roles) - bound}"
    return granted


def expand(scope: str, group: str, resources: str, verbs: str, name: str = ANY) -> set[Grant]:
    return {(scope, group, r, v, name) for r in resources.split() for v in verbs.split()}


def watching(scope: str) -> set[Grant]:
    """Read what Ingresses reference, write their status (merge-PATCH), post Events."""
    return (expand(scope, "networking.k8s.io", "ingresses", "get list watch")
            | expand(scope, "networking.k8s.io", "ingresses/status", "update patch")
            | expand(scope, "", "services secrets configmaps", "get list watch")
            | expand(scope, "discovery.k8s.io", "endpointslices", "get list watch")
            | expand(scope, "", "events", "create patch"))


INGRESS_CLASSES = expand(CLUSTER, "networking.k8s.io", "ingressclasses", "get list watch")
GATEWAY = "gateway.networking.k8s.io"
GATEWAY_CLUSTER = (expand(CLUSTER, GATEWAY, "gatewayclasses", "get list watch")
                   | expand(CLUSTER, GATEWAY, "gatewayclasses/status", "update patch")
                   | expand(CLUSTER, "", "namespaces", "get list watch")
                   | expand(CLUSTER, "apiextensions.k8s.io", "customresourcedefinitions", "get",
                            f"gateways.{GATEWAY}"))


def gateway_watching(scope: str) -> set[Grant]:
    """Read Gateways, HTTPRoutes and ReferenceGrants; write Gateway and HTTPRoute status."""
    return (expand(scope, GATEWAY, "gateways httproutes referencegrants", "get list watch")
            | expand(scope, GATEWAY, "gateways/status httproutes/status", "update patch"))
LEADER = expand(NAMESPACE, "coordination.k8s.io", "leases", "get create update patch")


def test_cluster_wide_rights(render: Render) -> None:
    assert grants(render({})) == watching(CLUSTER) | INGRESS_CLASSES | LEADER


def test_daemonset_has_the_same_rights(render: Render) -> None:
    assert grants(render(SCENARIOS["daemonset-nodeport"])) == (
        watching(CLUSTER) | INGRESS_CLASSES | LEADER)


def test_namespaced_rights(render: Render) -> None:
    # Its own Service lives outside team-a: readable by name, nothing else there.
    publish = expand(NAMESPACE, "", "services", "get", RELEASE)
    assert grants(render(SCENARIOS["namespaced"])) == (
        watching("team-a") | INGRESS_CLASSES | LEADER | publish)


def test_namespaced_rights_with_a_certificate_elsewhere(render: Render) -> None:
    values = {"controller": {"watchNamespace": NAMESPACE,
                             "defaultSSLCertificate": "certs/wildcard"}}
    certificate = expand("certs", "", "secrets", "get", "wildcard")
    # The published Service is inside the watched namespace: no extra Role for it.
    assert grants(render(values)) == watching(NAMESPACE) | INGRESS_CLASSES | LEADER | certificate


def test_gateway_api_rights(render: Render) -> None:
    assert grants(render(SCENARIOS["gateway-api"])) == (
        watching(CLUSTER) | gateway_watching(CLUSTER) | INGRESS_CLASSES | GATEWAY_CLUSTER | LEADER)


def test_namespaced_gateway_api_rights(render: Render) -> None:
    values = {**SCENARIOS["namespaced"], "gatewayAPI": {"enabled": True}}
    publish = expand(NAMESPACE, "", "services", "get", RELEASE)
    assert grants(render(values)) == (watching("team-a") | gateway_watching("team-a")
                                      | INGRESS_CLASSES | GATEWAY_CLUSTER | LEADER | publish)


def test_no_rbac_when_disabled(render: Render) -> None:
    kinds = {m["kind"] for m in render({"rbac": {"create": False}})}
    assert not kinds & {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


def test_pods_run_as_the_bound_service_account(render: Render) -> None:
    for values in SCENARIOS.values():
        manifests = render(values)
        name = one(manifests, "ServiceAccount")["metadata"]["name"]
        workloads = [m for m in manifests if m["kind"] in ("Deployment", "DaemonSet")]
        assert [w["spec"]["template"]["spec"]["serviceAccountName"] for w in workloads] == [name]


def test_admission_webhook_rights_are_one_secret_and_one_webhook_configuration(
    render: Render,
) -> None:
    name = f"{RELEASE}-admission"
    admission = (expand(NAMESPACE, "", "secrets", "create")
                 | expand(NAMESPACE, "", "secrets", "get", name)
                 | expand(CLUSTER, "admissionregistration.k8s.io",
                          "validatingwebhookconfigurations", "get patch", name))
    assert grants(render({"admissionWebhook": {"enabled": True}})) == (
        watching(CLUSTER) | INGRESS_CLASSES | LEADER | admission)
