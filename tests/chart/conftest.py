"""Fixtures that render the chart with the real helm binary."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from chart_objects import Manifest, Render
from helm_render import helm_or_skip, template

# The values sets every structural test runs against: the defaults, and each
# switch that changes which objects exist or how they are shaped.
SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "daemonset-nodeport": {
        "controller": {
            "kind": "DaemonSet",
            "workers": 2,
            "defaultSSLCertificate": "ingress/fallback-tls",
            "watchIngressWithoutClass": True,
            "accessLog": True,
            "proxyProtocol": {"enabled": True, "timeoutSeconds": 3},
            "sslPassthrough": True,
            "trustedProxies": ["10.0.0.0/8", "192.168.0.0/16"],
            "http2": {"maxConcurrentStreams": 64},
            # Numbers Helm would print as 1.048576e+06 without care; bools as --flag/--no-flag.
            "extraArgs": {"max-body-size": 1048576, "hsts": True, "hsts-include-subdomains": False},
        },
        "service": {
            "type": "NodePort",
            "nodePorts": {"http": 30080, "https": 30443},
            "externalTrafficPolicy": "Local",
            "annotations": {"example.com/lb": "internal"},
        },
        "ingressClass": {"default": True},
        "admissionWebhook": {"enabled": True, "certManager": {"enabled": True}},
    },
    "namespaced": {"controller": {"watchNamespace": "team-a"}},
    "gateway-api": {
        "gatewayAPI": {
            "enabled": True,
            "listenerPorts": [{"name": "http-alt", "port": 8080, "protocol": "HTTP"},
                              {"name": "https-alt", "port": 9443, "protocol": "HTTPS"}],
        },
    },
    "scaled-and-fenced": {
        "controller": {
            "autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 80},
            "podDisruptionBudget": {"enabled": True},
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "portico"}},
                }
            ],
        },
        "networkPolicy": {"enabled": True, "apiServer": {"cidrs": ["10.0.0.1/32"]}},
        "admissionWebhook": {"enabled": True},
        "metrics": {"serviceMonitor": {"enabled": True, "additionalLabels": {"release": "prom"}}},
    },
    "observability": {
        "metrics": {"grafanaDashboards": {"enabled": True},
                    "prometheusRule": {"enabled": True, "additionalLabels": {"release": "prom"}},
                    "requests": False, "perHost": False},
        "controller": {"accessLog": True, "accessLogFormat": "nginx", "generateRequestID": False},
        "tracing": {"otlpEndpoint": "http://otel-collector.observability:4318",
                    "sampleRatio": 0.25, "serviceName": "edge-eu"},
    },
}


@pytest.fixture(scope="session")
def helm() -> Path:
    return helm_or_skip()


@pytest.fixture(scope="session")
def render(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Render]:
    """`helm template` with the given values, parsed; cached per values set."""
    tmp_dir = tmp_path_factory.mktemp("values")
    cache: dict[str, list[Manifest]] = {}

    def _render(values: Mapping[str, Any]) -> list[Manifest]:
        key = json.dumps(values, sort_keys=True)
        if key not in cache:
            cache[key] = template(helm, values, tmp_dir)
        return cache[key]

    yield _render


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def manifests(render: Render, scenario: str) -> list[Manifest]:
    return render(SCENARIOS[scenario])
