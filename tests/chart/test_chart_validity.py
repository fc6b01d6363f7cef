"""The chart lints, renders objects the Kubernetes API accepts, and rejects bad values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from chart_objects import Manifest
from conftest import SCENARIOS
from helm_render import CHART, NAMESPACE, RELEASE, run_helm

# The oldest Kubernetes the chart claims (Chart.yaml kubeVersion) and the newest schemas at hand.
KUBERNETES_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())
# CRDs have no schema in kubernetes-validate.
NOT_BUILTIN = {"ServiceMonitor", "PrometheusRule", "Certificate", "Issuer", "GatewayClass"}


def test_chart_declares_the_oldest_validated_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={KUBERNETES_VERSIONS[0]}-0"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_lint_strict(helm: Path, tmp_path: Path, name: str) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART), "--namespace", NAMESPACE,
                      values=SCENARIOS[name], tmp_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_matches_the_kubernetes_schema(
    manifests: list[Manifest], version: str
) -> None:
    errors = []
    for manifest in manifests:
        if manifest["kind"] in NOT_BUILTIN:
            continue
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = f"{manifest['kind']} {manifest['metadata']['name']}"
            errors.append(f"{where}: {str(error).splitlines()[0]}")
    assert not errors, "\n".join(errors)


def test_objects_live_in_the_release_namespace_or_are_cluster_scoped(
    manifests: list[Manifest],
) -> None:
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "IngressClass",
                      "ValidatingWebhookConfiguration", "GatewayClass"}
    for manifest in manifests:
        kind, namespace = manifest["kind"], manifest["metadata"].get("namespace")
        if kind in cluster_scoped:
            assert namespace is None, manifest["metadata"]
        elif kind in ("Role", "RoleBinding"):
            continue  # they grant rights where the objects are: test_chart_rbac pins them
        else:
            assert namespace == NAMESPACE, f"{kind} {manifest['metadata']}"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"controller": {"replicaCout": 2}}, "replicaCout"),
        ({"servce": {"type": "NodePort"}}, "servce"),
        ({"service": {"type": "External"}}, "/service/type"),
        ({"controller": {"kind": "StatefulSet"}}, "/controller/kind"),
        ({"controller": {"containerPorts": {"http": 80}}}, "/controller/containerPorts/http"),
        ({"controller": {"workers": 0}}, "/controller/workers"),
        ({"tracing": {"sampleRatio": 1.5}}, "/tracing/sampleRatio"),
        ({"tracing": {"otlpEndpoint": "otel-collector:4318"}}, "/tracing/otlpEndpoint"),
        ({"controller": {"defaultSSLCertificate": "no-namespace"}},
         "/controller/defaultSSLCertificate"),
        ({"controller": {"kind": "DaemonSet", "autoscaling": {"enabled": True}}},
         "cannot scale a DaemonSet"),
        ({"controller": {"podDisruptionBudget": {"enabled": True, "maxUnavailable": 1}}},
         "exactly one of minAvailable and maxUnavailable"),
        ({"controller": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}},
         "minReplicas must not exceed maxReplicas"),
    ],
)
def test_bad_values_fail_naming_the_value(
    helm: Path, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    result = run_helm(helm, "template", RELEASE, str(CHART), values=values, tmp_dir=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr


def _value_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys of values.yaml; a map whose keys are free-form counts as one value."""
    free_form = {"resources", "podSecurityContext", "containerSecurityContext", "nodeSelector"}
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in free_form:
            paths += _value_paths(value, path + ".")
        else:
            paths.append(path)
    return paths


def test_readme_documents_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    undocumented = [p for p in _value_paths(values) if f"| `{p}` |" not in readme]
    assert not undocumented
