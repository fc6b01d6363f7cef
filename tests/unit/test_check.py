"""`portico check` on a directory of real-world-shaped Ingresses (tests/data/check)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingress.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "check"
P = "nginx.ingress.kubernetes.io/"


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["check", *args])
    return code, capsys.readouterr().out


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out = check(capsys, "--manifests", str(DATA), "--ingress-class", "nginx",
                      "--output", "json")
    document: dict[str, Any] = json.loads(out)
    assert code == 1  # some Ingresses will behave differently
    return document


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{i['namespace']}/{i['name']}": i for i in report["ingresses"]}


def verdicts(ingress: dict[str, Any]) -> dict[str, str]:
    return {a["name"].removeprefix(P): a["verdict"] for a in ingress["annotations"]}


def test_only_ingresses_of_the_checked_class_are_reported(report: dict[str, Any]) -> None:
    assert sorted(by_name(report)) == [
        "default/approot", "default/myingress", "default/nginx-configuration-snippet",
        "default/shop", "default/shop-copy", "docker-registry/docker-registry"]
    # default/approot behaves as before: app-root redirects as ingress-nginx's does.
    assert report["summary"] == {"ingresses": 6, "same": 2, "different": 4}


def test_an_ingress_with_nothing_to_report_behaves_as_before(report: dict[str, Any]) -> None:
    traefik_example = by_name(report)["default/myingress"]
    assert traefik_example["same"] is True
    assert traefik_example["problems"] == [] and traefik_example["annotations"] == []
    assert [(r["host"], r["pathType"], r["path"], r["backend"], r["endpoints"])
            for r in traefik_example["routes"]] == [
        ("whoami.localhost", "Exact", "/bar", "default/whoami:80", 1),
        ("whoami.localhost", "Exact", "/foo", "default/whoami:80", 1)]


def test_annotation_verdicts(report: dict[str, Any]) -> None:
    shop = by_name(report)["default/shop"]
    assert verdicts(shop) == {
        # Without effect, as in ingress-nginx's nginx: said, not silently dropped.
        "http2-push-preload": "applied with a difference",
        "not-an-annotation": "unknown",
        "proxy-read-timeout": "invalid",
    }
    assert "external-dns.alpha.kubernetes.io/hostname" not in json.dumps(shop["annotations"])
    snippet = by_name(report)["default/nginx-configuration-snippet"]
    assert verdicts(snippet) == {"configuration-snippet": "refused"}
    assert "no configuration to inject into" in snippet["annotations"][0]["note"]
    registry = by_name(report)["docker-registry/docker-registry"]
    assert verdicts(registry) == {"proxy-body-size": "applied", "proxy-read-timeout": "applied"}


def test_missing_objects_and_conflicts_are_problems(report: dict[str, Any]) -> None:
    ingresses = by_name(report)
    reasons = {name: [p["reason"] for p in i["problems"]] for name, i in ingresses.items()}
    assert reasons["default/shop"] == ["ServiceNotFound"]
    assert reasons["default/shop-copy"] == ["Conflict"]  # the newer of two claims on one path
    assert reasons["docker-registry/docker-registry"] == ["SecretNotFound"]


def test_text_output_and_exit_status(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = check(capsys, "--manifests", str(DATA), "--ingress-class", "nginx")
    assert code == 1
    assert "Ingress default/myingress: behaves as before" in out
    assert "Ingress default/shop: WILL BEHAVE DIFFERENTLY" in out
    assert out.endswith("6 Ingresses: 2 behave as before, 4 will not\n")
    (tmp_path / "only.yaml").write_text((DATA / "00-cluster.yaml").read_text() + "---\n"
                                        + (DATA / "traefik-docs.yaml").read_text())
    code, out = check(capsys, "--manifests", str(tmp_path), "--ingress-class", "nginx")
    assert code == 0 and out.endswith("1 Ingresses: 1 behave as before, 0 will not\n")


def test_unreadable_source_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check", "--manifests", str(tmp_path / "missing")]) == 2
    assert "cannot read the objects" in capsys.readouterr().err
