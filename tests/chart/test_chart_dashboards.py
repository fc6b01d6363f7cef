"""Grafana dashboards and Prometheus alerts rendered by the chart."""

from __future__ import annotations

import json
import subprocess
import sys

from chart_objects import Manifest, Render, of_kind, one
from conftest import SCENARIOS
from helm_render import CHART, NAMESPACE, ROOT

ALERTS = {"PorticoHigh5xxRatio", "PorticoConfigReloadFailed", "PorticoCertificateExpiring",
          "PorticoNoLeader"}


def test_dashboard_files_are_what_the_generator_writes() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "dashboards.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_dashboards_become_configmaps_for_the_grafana_sidecar(render: Render) -> None:
    maps = of_kind(render(SCENARIOS["observability"]), "ConfigMap")
    files = sorted((CHART / "dashboards").glob("*.json"))
    assert len(files) == 2
    assert len(maps) == len(files)
    shipped = {}
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["namespace"] == NAMESPACE
        [(name, text)] = cm["data"].items()
        shipped[name] = json.loads(text)
    assert shipped == {f.name: json.loads(f.read_text()) for f in files}
    for board in shipped.values():
        assert board["uid"] and board["panels"]
        assert all(t["expr"] for p in board["panels"] for t in p["targets"])


def test_dashboards_can_go_to_grafanas_namespace_with_another_label(render: Render) -> None:
    values = {"metrics": {"grafanaDashboards": {
        "enabled": True, "namespace": "monitoring", "label": "dashboards",
        "labelValue": "portico", "annotations": {"grafana_folder": "Ingress"}}}}
    for cm in of_kind(render(values), "ConfigMap"):
        assert cm["metadata"]["namespace"] == "monitoring"
        assert cm["metadata"]["labels"]["dashboards"] == "portico"
        assert "grafana_dashboard" not in cm["metadata"]["labels"]
        assert cm["metadata"]["annotations"] == {"grafana_folder": "Ingress"}


def rules(manifests: list[Manifest]) -> dict[str, dict[str, object]]:
    rule = one(manifests, "PrometheusRule")
    [group] = rule["spec"]["groups"]
    return {r["alert"]: r for r in group["rules"]}


def test_prometheus_rule_has_the_alerts_ingress_nginx_users_rely_on(render: Render) -> None:
    manifests = render(SCENARIOS["observability"])
    assert one(manifests, "PrometheusRule")["metadata"]["labels"]["release"] == "prom"
    alerts = rules(manifests)
    assert set(alerts) == ALERTS
    selector = ('controller_namespace="ingress",'
                'controller_class="portico.dev/ingress-controller"')
    for alert in alerts.values():
        assert selector in str(alert["expr"])
        assert alert["labels"]["severity"] in ("warning", "critical")  # type: ignore[index]
    assert "> 0.05" in str(alerts["PorticoHigh5xxRatio"]["expr"])
    assert "< 14 * 86400" in str(alerts["PorticoCertificateExpiring"]["expr"])
    # The generated default certificate is not watched; a configured one is.
    assert 'host!="_"' in str(alerts["PorticoCertificateExpiring"]["expr"])
    assert 'name="portico-leader"' in str(alerts["PorticoNoLeader"]["expr"])
    assert "== 0" in str(alerts["PorticoConfigReloadFailed"]["expr"])


def test_alert_thresholds_are_values(render: Render) -> None:
    alerts = rules(render({
        "controller": {"defaultSSLCertificate": "ingress/wildcard"},
        "metrics": {"prometheusRule": {"enabled": True, "fiveXXRatio": 0.01,
                                       "certificateExpiryDays": 30}}}))
    assert "> 0.01" in str(alerts["PorticoHigh5xxRatio"]["expr"])
    expiring = str(alerts["PorticoCertificateExpiring"]["expr"])
    assert "< 30 * 86400" in expiring and 'host!="_"' not in expiring

