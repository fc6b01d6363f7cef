"""Autoscaling, disruption budget, network policy and metrics scraping."""

from __future__ import annotations

import pytest
from chart_objects import (
    Manifest,
    Render,
    container,
    container_port,
    of_kind,
    one,
    pod_labels,
    selects,
)
from conftest import SCENARIOS
from helm_render import RELEASE

OPTIONAL_KINDS = {"HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy",
                  "ServiceMonitor", "ConfigMap", "PrometheusRule"}


@pytest.fixture
def scaled(render: Render) -> list[Manifest]:
    return render(SCENARIOS["scaled-and-fenced"])


def test_defaults_create_none_of_the_optional_objects(render: Render) -> None:
    manifests = render({})
    assert not {m["kind"] for m in manifests} & OPTIONAL_KINDS
    assert [s["metadata"]["name"] for s in of_kind(manifests, "Service")] == [RELEASE]


def test_autoscaler_owns_the_replica_count(scaled: list[Manifest]) -> None:
    deployment = one(scaled, "Deployment")
    hpa = one(scaled, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": deployment["metadata"]["name"]}
    assert "replicas" not in deployment["spec"]  # else every upgrade resets the HPA's choice
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
               for m in hpa["metrics"]}
    assert targets == {"cpu": 75, "memory": 80}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)


def test_disruption_budget_covers_the_pods(scaled: list[Manifest]) -> None:
    pdb = one(scaled, "PodDisruptionBudget")["spec"]
    assert selects(pdb["selector"]["matchLabels"], pod_labels(scaled))
    assert pdb["minAvailable"] == 1 and "maxUnavailable" not in pdb


def test_disruption_budget_by_max_unavailable(render: Render) -> None:
    budget = {"enabled": True, "minAvailable": None, "maxUnavailable": "25%"}
    pdb = one(render({"controller": {"podDisruptionBudget": budget}}), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == "25%" and "minAvailable" not in pdb["spec"]


def test_network_policy_admits_only_the_controller_ports(scaled: list[Manifest]) -> None:
    policy = one(scaled, "NetworkPolicy")["spec"]
    assert selects(policy["podSelector"]["matchLabels"], pod_labels(scaled))
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    admitted = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert admitted == {p["containerPort"] for p in container(scaled)["ports"]}
    assert all("from" not in rule for rule in policy["ingress"])  # adminFrom empty: any peer


def test_network_policy_can_fence_the_admin_port(render: Render) -> None:
    peers = [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    policy = one(render({"networkPolicy": {"enabled": True, "adminFrom": peers}}),
                 "NetworkPolicy")["spec"]
    fenced = [rule for rule in policy["ingress"] if "from" in rule]
    assert [[p["port"] for p in rule["ports"]] for rule in fenced] == [[10254]]
    assert fenced[0]["from"] == peers


def test_network_policy_egress_reaches_the_cluster_and_the_api_server(
    scaled: list[Manifest],
) -> None:
    egress = one(scaled, "NetworkPolicy")["spec"]["egress"]
    assert {"to": [{"namespaceSelector": {}}]} in egress
    api = [rule for rule in egress if "ports" in rule]
    assert api == [{"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}],
                    "to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}]}]


def test_service_monitor_scrapes_the_admin_port(scaled: list[Manifest]) -> None:
    monitor = one(scaled, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    spec = monitor["spec"]
    selected = [s for s in of_kind(scaled, "Service")
                if selects(spec["selector"]["matchLabels"], s["metadata"]["labels"])]
    assert [s["metadata"]["name"] for s in selected] == [f"{RELEASE}-metrics"]
    [endpoint] = spec["endpoints"]
    assert endpoint["path"] == "/metrics"
    [port] = [p for p in selected[0]["spec"]["ports"] if p["name"] == endpoint["port"]]
    assert container_port(scaled, port["targetPort"]) == 10254


def test_metrics_service_alone(render: Render) -> None:
    manifests = render({"metrics": {"service": {"enabled": True}}})
    assert not of_kind(manifests, "ServiceMonitor")
    one(manifests, "Service", f"{RELEASE}-metrics")


def test_controller_config_becomes_the_configmap_portico_reads(render: Render) -> None:
    assert not of_kind(render({}), "ConfigMap")
    assert not [a for a in container(render({}))["args"] if a.startswith("--configmap")]
    manifests = render({"controller": {"config": {"proxy-body-size": "8m", "hsts": False,
                                                  "keep-alive": 10}}})
    config_map = one(manifests, "ConfigMap")
    assert config_map["data"] == {"proxy-body-size": "8m", "hsts": "false", "keep-alive": "10"}
    name = config_map["metadata"]["name"]
    assert f"--configmap={config_map['metadata']['namespace']}/{name}" in \
        container(manifests)["args"]
