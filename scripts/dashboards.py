"""The Grafana dashboards shipped in charts/portico/dashboards/, written from this file.

    python scripts/dashboards.py          # rewrite the JSON files
    python scripts/dashboards.py --check  # exit 1 if they differ from what this writes

Every query uses ingress-nginx's metric names, so the boards work for
ingress-nginx too, and ingress-nginx's community boards work for Portico.
tests/chart/test_dashboards.py runs the check; tests/e2e/test_observability.py
checks that every metric they query exists in Portico's /metrics.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "charts" / "portico" / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = ('controller_namespace=~"$namespace",controller_class=~"$controller_class",'
       'controller_pod=~"$controller"')
ING = SEL + ',ingress=~"$ingress"'
RANGE = "$__rate_interval"


def target(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> dict[str, Any]:
    t: dict[str, Any] = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}
    if instant:
        t.update(instant=True, range=False, format="table")
    return t


def panel(kind: str, title: str, grid: tuple[int, int, int, int], targets: list[dict[str, Any]],
          unit: str = "short", description: str = "", **options: Any) -> dict[str, Any]:
    x, y, w, h = grid
    return {
        "type": kind, "title": title, "description": description, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}, "options": options,
    }


def quantiles(metric: str, selector: str, by: str = "") -> list[dict[str, Any]]:
    group = f"le{', ' + by if by else ''}"
    legend = f"{{{{{by}}}}} " if by else ""
    return [target(f"histogram_quantile({q}, sum by ({group}) "
                   f"(rate({metric}_bucket{{{selector}}}[{RANGE}])))",
                   f"{legend}p{int(q * 100)}", ref=chr(65 + i))
            for i, q in enumerate((0.5, 0.95, 0.99))]


def variables() -> dict[str, Any]:
    def query(name: str, label: str, metric: str = "nginx_ingress_controller_config_hash",
              selector: str = "") -> dict[str, Any]:
        q = f"label_values({metric}{{{selector}}}, {label})" if selector else \
            f"label_values({metric}, {label})"
        return {"name": name, "label": name.replace("_", " "), "type": "query",
                "datasource": DS, "query": {"query": q, "refId": name}, "definition": q,
                "includeAll": True, "allValue": ".*", "multi": True, "refresh": 2,
                "current": {"text": "All", "value": "$__all"}}

    return {"list": [
        {"name": "datasource", "label": "data source", "type": "datasource",
         "query": "prometheus", "current": {}},
        query("namespace", "controller_namespace"),
        query("controller_class", "controller_class"),
        query("controller", "controller_pod"),
        query("ingress", "ingress", "nginx_ingress_controller_requests",
              'controller_namespace=~"$namespace"'),
    ]}


def dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    for i, p in enumerate(panels, start=1):
        p["id"] = i
    return {
        "uid": uid, "title": title, "tags": ["portico", "ingress-nginx"], "editable": True,
        "schemaVersion": 39, "version": 1, "refresh": "30s", "timezone": "",
        "time": {"from": "now-1h", "to": "now"}, "templating": variables(),
        "annotations": {"list": [{
            "name": "Config reloads", "datasource": DS, "enable": True,
            "iconColor": "rgba(255, 96, 96, 1)",
            "expr": f"sum(changes(nginx_ingress_controller_config_last_reload_successful_"
                    f"timestamp_seconds{{{SEL}}}[30s])) > 0",
            "step": "30s", "titleFormat": "Config reloaded"}]},
        "panels": panels,
    }


def overview() -> dict[str, Any]:
    rate = f"rate(nginx_ingress_controller_requests{{{ING}}}[{RANGE}])"
    errors = f'rate(nginx_ingress_controller_requests{{{ING},status=~"5.."}}[{RANGE}])'
    panels = [
        panel("stat", "Request volume", (0, 0, 6, 4), [target(f"sum({rate})")], "reqps"),
        panel("stat", "Success rate (not 4xx/5xx)", (6, 0, 6, 4), [target(
            f'sum(rate(nginx_ingress_controller_requests{{{ING},status!~"[4-5].."}}[{RANGE}]))'
            f" / sum({rate})")], "percentunit"),
        panel("stat", "Config reloads (1 h)", (12, 0, 4, 4), [target(
            f"sum(increase(nginx_ingress_controller_success{{{SEL}}}[1h]))")]),
        panel("stat", "Last reload failed", (16, 0, 4, 4), [target(
            f"count(nginx_ingress_controller_config_last_reload_successful{{{SEL}}} == 0) "
            "or vector(0)")]),
        panel("stat", "Certificates expiring in 14 days", (20, 0, 4, 4), [target(
            f"count(nginx_ingress_controller_ssl_expire_time_seconds{{{SEL}}} "
            "< time() + 14 * 86400) or vector(0)")]),
        panel("timeseries", "Requests by Ingress", (0, 4, 12, 8),
              [target(f"sum by (ingress) ({rate})", "{{ingress}}")], "reqps"),
        panel("timeseries", "Responses by status", (12, 4, 12, 8), [target(
            f"sum by (status) ({rate})", "{{status}}")], "reqps"),
        panel("timeseries", "Request latency", (0, 12, 12, 8),
              quantiles("nginx_ingress_controller_request_duration_seconds", ING), "s",
              "Time from the request's first byte to the answer's last."),
        panel("timeseries", "Upstream latency", (12, 12, 12, 8),
              quantiles("nginx_ingress_controller_response_duration_seconds", ING), "s",
              "Time from the start of the upstream attempt to the response's last byte."),
        panel("timeseries", "Client connections", (0, 20, 8, 8), [target(
            f"sum by (state) (nginx_ingress_controller_nginx_process_connections{{{SEL}}})",
            "{{state}}")]),
        panel("timeseries", "Proxy CPU and memory", (8, 20, 8, 8), [
            target(f"sum(rate(nginx_ingress_controller_nginx_process_cpu_seconds_total"
                   f"{{{SEL}}}[{RANGE}]))", "CPU (cores)"),
            target(f"sum(nginx_ingress_controller_nginx_process_resident_memory_bytes"
                   f"{{{SEL}}}) / 2^30", "RSS (GiB)", ref="B")]),
        panel("timeseries", "5xx ratio", (16, 20, 8, 8), [target(
            f"sum({errors}) / sum({rate})", "5xx")], "percentunit"),
        panel("table", "Certificates", (0, 28, 12, 8), [target(
            f"min by (host, namespace, secret_name) "
            f"(nginx_ingress_controller_ssl_expire_time_seconds{{{SEL}}}) - time()",
            instant=True)], "s", "Time left until each served certificate expires."),
        panel("table", "Ingresses", (12, 28, 12, 8), [
            target(f"sum by (ingress) ({rate})", instant=True),
            target(f"sum by (ingress) ({errors}) / sum by (ingress) ({rate})", instant=True,
                   ref="B"),
            target(f"histogram_quantile(0.95, sum by (le, ingress) (rate("
                   f"nginx_ingress_controller_request_duration_seconds_bucket{{{ING}}}"
                   f"[{RANGE}])))", instant=True, ref="C")],
            description="Requests per second, 5xx ratio and p95 latency of each Ingress."),
    ]
    return dashboard("portico-overview", "Portico / Overview", panels)


def request_performance() -> dict[str, Any]:
    by_path = "ingress, path"
    panels = [
        panel("timeseries", "Request time by path", (0, 0, 12, 8),
              quantiles("nginx_ingress_controller_request_duration_seconds", ING, by_path), "s"),
        panel("timeseries", "Upstream response time by path", (12, 0, 12, 8),
              quantiles("nginx_ingress_controller_response_duration_seconds", ING, by_path), "s"),
        panel("timeseries", "Upstream header time", (0, 8, 8, 8),
              quantiles("nginx_ingress_controller_header_duration_seconds", ING), "s"),
        panel("timeseries", "Upstream connect time", (8, 8, 8, 8),
              quantiles("nginx_ingress_controller_connect_duration_seconds", ING), "s",
              "0 for requests sent on a kept-alive connection."),
        panel("timeseries", "Requests by method and path", (16, 8, 8, 8), [target(
            f"sum by (method, path) (rate(nginx_ingress_controller_request_duration_seconds_count"
            f"{{{ING}}}[{RANGE}]))", "{{method}} {{path}}")], "reqps"),
        panel("timeseries", "Average response size by path", (0, 16, 12, 8), [target(
            f"sum by (path) (rate(nginx_ingress_controller_response_size_sum{{{ING}}}[{RANGE}]))"
            f" / sum by (path) (rate(nginx_ingress_controller_response_size_count{{{ING}}}"
            f"[{RANGE}]))", "{{path}}")], "bytes"),
        panel("timeseries", "Average request size by path", (12, 16, 12, 8), [target(
            f"sum by (path) (rate(nginx_ingress_controller_request_size_sum{{{ING}}}[{RANGE}]))"
            f" / sum by (path) (rate(nginx_ingress_controller_request_size_count{{{ING}}}"
            f"[{RANGE}]))", "{{path}}")], "bytes"),
        panel("timeseries", "Upstream time share of request time", (0, 24, 24, 8), [target(
            f"sum by (ingress) (rate(nginx_ingress_controller_response_duration_seconds_sum"
            f"{{{ING}}}[{RANGE}])) / sum by (ingress) (rate("
            f"nginx_ingress_controller_request_duration_seconds_sum{{{ING}}}[{RANGE}]))",
            "{{ingress}}")], "percentunit",
              "Close to 100%: the time is the pods'; much lower: it is spent in the proxy "
              "or on the client side."),
    ]
    return dashboard("portico-request-performance", "Portico / Request performance", panels)


BOARDS = {"portico-overview.json": overview,
          "portico-request-performance.json": request_performance}


def rendered() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2) + "\n" for name, build in BOARDS.items()}


def main(argv: list[str]) -> int:
    files = rendered()
    if "--check" in argv:
        stale = [n for n, text in files.items()
                 if not (OUT / n).exists() or (OUT / n).read_text() != text]
        for name in stale:
            print(f"{OUT / name} differs from scripts/dashboards.py: run it", file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
