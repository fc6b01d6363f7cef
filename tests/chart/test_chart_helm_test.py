"""The chart's `helm test` hook: a backend, an Ingress to it, and a load test that must pass."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
from chart_objects import Manifest, one, selects
from helm_render import NAMESPACE, RELEASE, template

from ingress.cli import _parser as portico_parser
from ingress.loadtest.slo import parse_slo

HOOK_KINDS = ["Deployment", "Ingress", "Pod", "Service"]


@pytest.fixture(scope="module")
def hook_render(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp_dir = tmp_path_factory.mktemp("hook-values")

    def render(values: dict[str, Any]) -> list[Manifest]:
        return template(helm, values, tmp_dir, tests=True)

    return render


def loadtest_args(hooks: list[Manifest]) -> argparse.Namespace:
    """The test pod's arguments, read by `portico`'s own parser."""
    args = [str(a) for a in one(hooks, "Pod")["spec"]["containers"][0]["args"]]
    parsed = portico_parser().parse_args(args)
    assert parsed.command == "loadtest"
    return parsed


def test_the_hook_loads_the_controller_service_through_an_ingress_to_its_backend(
    hook_render: Any,
) -> None:
    hooks = hook_render({})
    assert sorted(h["kind"] for h in hooks) == HOOK_KINDS
    for hook in hooks:
        annotations = hook["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "test"
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
        # The backend exists before the pod that loads it (lower weight first).
        weight = int(annotations.get("helm.sh/hook-weight", "0"))
        assert weight == (0 if hook["kind"] == "Pod" else -1)
        assert hook["metadata"]["namespace"] == NAMESPACE
        assert hook["metadata"]["labels"]["app.kubernetes.io/component"] == "helm-test"

    args = loadtest_args(hooks)
    url = urlsplit(args.url)
    assert (url.hostname, url.port) == (f"{RELEASE}.{NAMESPACE}.svc", 80)  # the chart's Service
    ingress = one(hooks, "Ingress")["spec"]
    assert ingress["ingressClassName"] == "portico"
    (rule,) = ingress["rules"]
    assert rule["host"] == args.host == f"{RELEASE}.{NAMESPACE}.helm-test.invalid"
    assert [t.text for t in parse_slo(args.slo)] == ["p99<1s", "errors<1%"]
    assert (args.rate, args.duration, args.wait, args.admin) == (20.0, "10s", "60s", None)
    assert args.out == Path("/tmp/loadtest") and args.no_plots

    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = one(hooks, "Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    deployment = one(hooks, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(service["spec"]["selector"], pod_labels)
    assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    # Not a controller pod: the controller's Service must never send traffic to it.
    assert pod_labels.get("app.kubernetes.io/component") != "controller"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    echo = portico_parser().parse_args(container["args"])
    assert (echo.command, echo.bind) == ("echo", "0.0.0.0")
    assert container["ports"] == [{"name": "http", "containerPort": echo.port, "protocol": "TCP"}]


def test_the_hook_pods_run_as_locked_down_as_the_controller(hook_render: Any) -> None:
    hooks = hook_render({})
    pod_specs = [one(hooks, "Pod")["spec"],
                 one(hooks, "Deployment")["spec"]["template"]["spec"]]
    for spec in pod_specs:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        (container,) = spec["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    volume_mounts = one(hooks, "Pod")["spec"]["containers"][0]["volumeMounts"]
    assert {m["mountPath"] for m in volume_mounts} == {"/tmp"}  # where --out writes


@pytest.mark.parametrize("version", ["1.25.0", kubernetes_validate.latest_version()])
def test_every_hook_matches_the_kubernetes_schema(hook_render: Any, version: str) -> None:
    for hook in hook_render({}):
        kubernetes_validate.validate(hook, version, strict=True)


def test_the_backend_and_ingress_go_where_the_controller_watches(hook_render: Any) -> None:
    hooks = hook_render({"controller": {"watchNamespace": "team-a"}})
    placed = {h["kind"]: h["metadata"]["namespace"] for h in hooks}
    assert placed == {"Deployment": "team-a", "Service": "team-a", "Ingress": "team-a",
                      "Pod": NAMESPACE}


def test_values_shape_the_load_and_the_metrics_service_adds_reload_markers(
    hook_render: Any,
) -> None:
    hooks = hook_render({
        "tests": {"loadtest": {"host": "smoke.example", "rate": 200, "duration": "30s",
                               "slo": "p99<50ms", "waitSeconds": 5}},
        "metrics": {"service": {"enabled": True}},
    })
    args = loadtest_args(hooks)
    assert (args.host, args.rate, args.duration, args.slo, args.wait) == (
        "smoke.example", 200.0, "30s", "p99<50ms", "5s")
    assert args.admin == f"http://{RELEASE}-metrics.{NAMESPACE}.svc:10254"
    assert one(hooks, "Ingress")["spec"]["rules"][0]["host"] == "smoke.example"


def test_the_hook_can_be_left_out(hook_render: Any, helm: Path, tmp_path: Path) -> None:
    from helm_render import CHART, run_helm

    result = run_helm(helm, "template", RELEASE, str(CHART), values={
        "tests": {"loadtest": {"enabled": False}}}, tmp_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "helm.sh/hook" not in result.stdout
