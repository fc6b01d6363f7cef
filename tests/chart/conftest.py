"""Fixtures that render the chart with the real helm binary."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_objects import Manifest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "portico"
HELM = ROOT / ".tools" / "bin" / "helm"
RELEASE = "portico"
NAMESPACE = "ingress"

Render = Callable[[Mapping[str, Any]], list[Manifest]]

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
    },
    "namespaced": {"controller": {"watchNamespace": "team-a"}},
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
        "metrics": {"serviceMonitor": {"enabled": True, "additionalLabels": {"release": "prom"}}},
    },
}


def ensure_helm() -> Path:
    """helm from .tools/bin, installing it with scripts/tools.sh when absent."""
    if not HELM.exists():
        subprocess.run([str(ROOT / "scripts" / "tools.sh")], check=False, capture_output=True)
    return HELM


@pytest.fixture(scope="session")
def helm() -> Path:
    path = ensure_helm()
    if not path.exists():
        reason = f"helm not found at {path}; run scripts/tools.sh"
        # CI must notice a missing tool rather than pass with nothing tested.
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def run_helm(helm: Path, *args: str, values: Mapping[str, Any] | None = None,
             tmp_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(helm), *args]
    if values is not None:
        assert tmp_dir is not None
        text = json.dumps(values, sort_keys=True)
        values_file = tmp_dir / f"values-{hashlib.sha1(text.encode()).hexdigest()[:12]}.json"
        values_file.write_text(text)  # JSON is YAML, so helm reads it as values
        command += ["--values", str(values_file)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture(scope="session")
def render(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Render]:
    """`helm template` with the given values, parsed; cached per values set."""
    tmp_dir = tmp_path_factory.mktemp("values")
    cache: dict[str, list[Manifest]] = {}

    def _render(values: Mapping[str, Any]) -> list[Manifest]:
        key = json.dumps(values, sort_keys=True)
        if key not in cache:
            result = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                              values=values, tmp_dir=tmp_dir)
            assert result.returncode == 0, result.stderr
            cache[key] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return cache[key]

    yield _render


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def manifests(render: Render, scenario: str) -> list[Manifest]:
    return render(SCENARIOS[scenario])
