"""The controller pod the chart renders runs what `portico run` accepts, safely."""

from __future__ import annotations

import argparse
import re

import pytest
from chart_objects import (
    Manifest,
    Render,
    args,
    container,
    container_port,
    flags,
    of_kind,
    one,
    pod_labels,
    pod_spec,
    selects,
    workload,
)
from conftest import SCENARIOS
from helm_render import NAMESPACE, RELEASE

from ingress.settings import (
    DEFAULT_CONTROLLER_NAME,
    DEFAULT_GATEWAY_CONTROLLER_NAME,
    DEFAULT_INGRESS_CLASS,
    Settings,
    add_arguments,
    from_args,
)

DEFAULTS = Settings(workers=1)


def run_parser() -> argparse.ArgumentParser:
    """`portico run`'s own parser, in this process."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser


@pytest.fixture(scope="module")
def run_help() -> str:
    return run_parser().format_help()


def test_every_rendered_flag_exists_in_portico_run(
    manifests: list[Manifest], run_help: str
) -> None:
    known = set(re.findall(r"--[a-z][a-z0-9-]*", run_help))
    assert args(manifests)[0] == "run"
    unknown = [f"--{name}" for name in flags(manifests) if f"--{name}" not in known]
    assert not unknown, f"portico run does not accept {unknown}"


def test_portico_run_parses_the_rendered_arguments(manifests: list[Manifest]) -> None:
    # The parser `portico run` itself uses: a wrong type (e.g. --workers=1.0) exits
    # naming the flag, and the settings refuse values their checks reject.
    run_settings(manifests)


def test_listener_flags_match_the_container_ports(manifests: list[Manifest]) -> None:
    given = flags(manifests)
    for name in ("http", "https", "admin"):
        assert given[f"{name}-port"] == str(container_port(manifests, name))


def test_default_ports_are_the_controllers_defaults(render: Render) -> None:
    manifests = render({})
    assert container_port(manifests, "http") == DEFAULTS.http_port
    assert container_port(manifests, "https") == DEFAULTS.https_port
    assert container_port(manifests, "admin") == DEFAULTS.admin_port == 10254


@pytest.mark.parametrize(("probe", "path"), [("livenessProbe", "/healthz"),
                                              ("readinessProbe", "/readyz")])
def test_probes_hit_the_admin_endpoints(manifests: list[Manifest], probe: str, path: str) -> None:
    http_get = container(manifests)[probe]["httpGet"]
    assert http_get["path"] == path
    assert container_port(manifests, http_get["port"]) == int(flags(manifests)["admin-port"] or 0)


def test_security_context(manifests: list[Manifest]) -> None:
    pod = pod_spec(manifests)["securityContext"]
    ctx = container(manifests)["securityContext"]
    assert pod["runAsNonRoot"] is True and ctx["runAsNonRoot"] is True
    assert pod["runAsUser"] == ctx["runAsUser"] and ctx["runAsUser"] > 0
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert pod["seccompProfile"] == ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    # Without NET_BIND_SERVICE only ports above 1024 can be bound.
    assert all(p["containerPort"] > 1024 for p in container(manifests)["ports"])


def test_graceful_shutdown_fits_in_the_termination_grace(manifests: list[Manifest]) -> None:
    given = flags(manifests)
    pre_stop = container(manifests)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = float(pre_stop[1]) + float(given["shutdown-delay"] or 0) + float(
        given["shutdown-grace"] or 0)
    assert pod_spec(manifests)["terminationGracePeriodSeconds"] > drain


def test_termination_grace_follows_the_lifecycle_values(render: Render) -> None:
    lifecycle = {"preStopSeconds": 10, "shutdownDelaySeconds": 3, "shutdownGraceSeconds": 60}
    manifests = render({"controller": {"lifecycle": lifecycle}})
    assert pod_spec(manifests)["terminationGracePeriodSeconds"] == 10 + 3 + 60 + 5
    assert container(manifests)["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "10"]
    assert (flags(manifests)["shutdown-delay"], flags(manifests)["shutdown-grace"]) == ("3", "60")


def test_pod_knows_its_namespace(manifests: list[Manifest]) -> None:
    env = {e["name"]: e for e in container(manifests)["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert flags(manifests)["controller-namespace"] == NAMESPACE


def test_defaults_publish_the_charts_own_service(render: Render) -> None:
    manifests = render({})
    service = one(manifests, "Service", RELEASE)
    meta = service["metadata"]
    assert flags(manifests)["publish-service"] == f"{meta['namespace']}/{meta['name']}"


def test_publish_address_replaces_the_service(render: Render) -> None:
    given = flags(render({"controller": {"publishAddress": "203.0.113.7"}}))
    assert given["publish-address"] == "203.0.113.7"
    assert "publish-service" not in given


def test_optional_flags_follow_values(render: Render) -> None:
    given = flags(render(SCENARIOS["daemonset-nodeport"]))
    assert given["workers"] == "2"
    assert given["default-ssl-certificate"] == "ingress/fallback-tls"
    assert "watch-ingress-without-class" in given and given["watch-ingress-without-class"] is None
    assert given["max-body-size"] == "1048576"
    assert "hsts" in given and "no-hsts-include-subdomains" in given
    assert "proxy-protocol" in given and given["proxy-protocol-timeout"] == "3"
    assert "enable-ssl-passthrough" in given
    assert given["trusted-proxies"] == "10.0.0.0/8,192.168.0.0/16"
    assert given["http2-max-concurrent-streams"] == "64"
    defaults = flags(render({}))
    assert defaults["http2-max-concurrent-streams"] == "128"
    assert not {"workers", "default-ssl-certificate", "watch-namespace", "proxy-protocol",
                "trusted-proxies", "enable-ssl-passthrough"} & set(defaults)


def run_settings(manifests: list[Manifest]) -> Settings:
    """The rendered arguments as `portico run` parses them."""
    return from_args(run_parser().parse_args(args(manifests)[1:]))


def env(manifests: list[Manifest]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(manifests)["env"] if "value" in e}


def test_observability_values_reach_portico_run(render: Render) -> None:
    manifests = render(SCENARIOS["observability"])
    settings = run_settings(manifests)
    assert settings.otlp_endpoint == "http://otel-collector.observability:4318"
    assert settings.trace_sample_ratio == 0.25
    assert (settings.enable_metrics, settings.metrics_per_host) == (False, False)
    assert not settings.generate_request_id
    assert (settings.access_log, settings.access_log_format) == (True, "nginx")
    assert env(manifests)["OTEL_SERVICE_NAME"] == "edge-eu"
    defaults = render({})
    settings = run_settings(defaults)
    assert settings.otlp_endpoint is None
    assert (settings.enable_metrics, settings.metrics_per_host) == (True, True)
    assert settings.generate_request_id and not settings.access_log
    assert "OTEL_SERVICE_NAME" not in env(defaults)


def test_an_otlp_endpoint_traces_every_ingress_unless_the_configmap_decides(
        render: Render) -> None:
    tracing = {"otlpEndpoint": "http://otel-collector.observability:4318"}
    for config, traced in (({"proxy-body-size": "8m"}, "true"),
                           ({"enable-opentelemetry": False}, "false")):
        manifests = render({"tracing": tracing, "controller": {"config": config}})
        assert one(manifests, "ConfigMap")["data"]["enable-opentelemetry"] == traced
    untraced = render({"controller": {"config": {"proxy-body-size": "8m"}}})
    assert "enable-opentelemetry" not in one(untraced, "ConfigMap")["data"]


def test_ingress_class_matches_the_controller(manifests: list[Manifest], scenario: str) -> None:
    ingress_class = one(manifests, "IngressClass")
    assert ingress_class["metadata"]["name"] == DEFAULT_INGRESS_CLASS
    assert ingress_class["spec"]["controller"] == DEFAULT_CONTROLLER_NAME
    assert flags(manifests)["ingress-class"] == DEFAULT_INGRESS_CLASS
    assert flags(manifests)["controller-name"] == DEFAULT_CONTROLLER_NAME
    annotations = ingress_class["metadata"].get("annotations", {})
    is_default = SCENARIOS[scenario].get("ingressClass", {}).get("default", False)
    assert (annotations.get("ingressclass.kubernetes.io/is-default-class") == "true") is is_default


def test_gateway_api_flags_class_and_listener_ports(render: Render) -> None:
    manifests = render(SCENARIOS["gateway-api"])
    given = flags(manifests)
    assert "gateway-api" in given
    assert given["gateway-controller-name"] == DEFAULT_GATEWAY_CONTROLLER_NAME
    gateway_class = one(manifests, "GatewayClass")
    assert gateway_class["spec"]["controllerName"] == DEFAULT_GATEWAY_CONTROLLER_NAME
    spec = one(manifests, "Service", RELEASE)["spec"]
    ports = {p["port"]: container_port(manifests, p["targetPort"]) for p in spec["ports"]}
    assert ports == {80: DEFAULTS.http_port, 443: DEFAULTS.https_port,
                     8080: DEFAULTS.http_port, 9443: DEFAULTS.https_port}
    defaults = render({})
    assert not of_kind(defaults, "GatewayClass") and "gateway-api" not in flags(defaults)


def test_default_service_is_a_load_balancer_on_80_and_443(render: Render) -> None:
    manifests = render({})
    spec = one(manifests, "Service", RELEASE)["spec"]
    assert spec["type"] == "LoadBalancer"
    ports = {p["port"]: container_port(manifests, p["targetPort"]) for p in spec["ports"]}
    assert ports == {80: DEFAULTS.http_port, 443: DEFAULTS.https_port}


def test_nodeport_service(render: Render) -> None:
    manifests = render(SCENARIOS["daemonset-nodeport"])
    assert workload(manifests)["kind"] == "DaemonSet"
    service = one(manifests, "Service", RELEASE)
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    assert {p["name"]: p["nodePort"] for p in service["spec"]["ports"]} == {
        "http": 30080, "https": 30443}
    assert service["metadata"]["annotations"] == {"example.com/lb": "internal"}


def test_cluster_ip_service_drops_external_only_fields(render: Render) -> None:
    spec = one(render({"service": {"type": "ClusterIP", "externalTrafficPolicy": "Local",
                                   "nodePorts": {"http": 30080}}}), "Service", RELEASE)["spec"]
    assert spec["type"] == "ClusterIP"
    assert "externalTrafficPolicy" not in spec
    assert all("nodePort" not in p for p in spec["ports"])


def test_services_select_the_controller_pods(manifests: list[Manifest]) -> None:
    for service in of_kind(manifests, "Service"):
        assert selects(service["spec"]["selector"], pod_labels(manifests)), service["metadata"]
        for port in service["spec"]["ports"]:
            container_port(manifests, port["targetPort"])


def test_workload_selector_matches_its_pods(manifests: list[Manifest]) -> None:
    selector = workload(manifests)["spec"]["selector"]["matchLabels"]
    assert selects(selector, pod_labels(manifests))
