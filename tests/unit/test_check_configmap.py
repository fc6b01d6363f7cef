"""`portico check --configmap`: the controller ConfigMap's keys get verdicts too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingress.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "check"
CONFIGMAP = "ingress-nginx/ingress-nginx-controller"


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["check", "--manifests", str(DATA), "--ingress-class", "nginx", *args])
    return code, capsys.readouterr().out


def test_every_key_gets_a_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(capsys, "--configmap", CONFIGMAP, "--output", "json")
    config: dict[str, Any] = json.loads(out)["configMap"]
    assert code == 1
    assert (config["namespace"], config["name"], config["same"]) == (
        "ingress-nginx", "ingress-nginx-controller", False)
    verdicts = {k["name"]: (k["verdict"], k["note"]) for k in config["keys"]}
    assert verdicts["use-forwarded-headers"] == ("applied", "")
    assert verdicts["proxy-body-size"] == ("applied", "")
    assert verdicts["allow-snippet-annotations"][0] == "applied with a difference"
    assert "stay refused" in verdicts["allow-snippet-annotations"][1]
    assert verdicts["http-snippet"][0] == "refused"
    assert verdicts["proxy-connect-timeout"][0] == "invalid"
    assert "'5sec'" in verdicts["proxy-connect-timeout"][1]
    assert verdicts["not-a-key"][0] == "unknown"
    assert config["problems"] == []


@pytest.mark.parametrize(("data", "code"), [
    ({"use-forwarded-headers": "true", "proxy-body-size": "20m"}, 0),
    ({"use-forwarded-headers": "true", "server-snippet": "deny all;"}, 1),
])
def test_the_exit_status_counts_the_configmap(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: dict[str, str], code: int
) -> None:
    # Ingresses that all behave as before; the ConfigMap alone decides.
    config = {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
              "metadata": {"name": "controller", "namespace": "ingress-nginx"}}
    (tmp_path / "cluster.yaml").write_text(
        (DATA / "00-cluster.yaml").read_text() + "---\n" + (DATA / "traefik-docs.yaml").read_text()
        + "---\n" + json.dumps(config))
    found = main(["check", "--manifests", str(tmp_path), "--ingress-class", "nginx",
                  "--configmap", "ingress-nginx/controller"])
    out = capsys.readouterr().out
    assert found == code, out
    assert out.endswith("1 Ingresses: 1 behave as before, 0 will not\n")


def test_text_output_and_a_missing_configmap(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(capsys, "--configmap", CONFIGMAP)
    assert out.startswith(f"ConfigMap {CONFIGMAP}: WILL BEHAVE DIFFERENTLY\n")
    assert "  http-snippet=" in out and ": refused: " in out
    code, out = check(capsys, "--configmap", "ingress-nginx/absent")
    assert code == 1
    assert "ConfigMap ingress-nginx/absent: WILL BEHAVE DIFFERENTLY" in out
    assert "problem (ConfigMapNotFound)" in out


def test_a_configmap_that_is_not_namespace_and_name_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["check", "--manifests", str(DATA), "--configmap", "just-a-name"])
    assert exit_.value.code == 2
    assert "is not namespace/name" in capsys.readouterr().err
