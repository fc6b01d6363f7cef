"""`portico check --kubeconfig`: the migration report read from an API server (the emulator)."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path
from typing import Any

from kube import objects as o
from kube.harness import (
    CLASSES,
    CONFIGMAPS,
    INGRESSES,
    SECRETS,
    SERVICES,
    SLICES,
    running_api,
    write_kubeconfig,
)


async def portico_check(*args: str) -> tuple[int, dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ingress.cli", "check", *args, "--output", "json",
        stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, json.loads(out)


async def test_check_lists_the_cluster_namespace_by_namespace(tmp_path: Path) -> None:
    async with running_api() as api:
        await api.call("POST", CLASSES, o.ingress_class("nginx", "k8s.io/ingress-nginx"))
        for ns in ("default", "team"):
            await api.create(SERVICES, o.service("web", ns=ns))
            await api.create(SLICES, o.endpoint_slice("web", ["10.0.0.1"], ns=ns))
        good = o.ingress("good", host="good.example", cls="nginx")
        await api.create(INGRESSES, good)
        limited = o.ingress("limited", host="team.example", cls="nginx", ns="team")
        limited["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/fastcgi-index": "x"}
        await api.create(INGRESSES, limited)
        await api.create(INGRESSES, o.ingress("ours", host="p.example", cls="portico"))
        kubeconfig = str(write_kubeconfig(tmp_path, api.url, namespace="default"))

        code, report = await portico_check("--kubeconfig", kubeconfig, "--ingress-class", "nginx")
        assert code == 0  # the context's namespace only: `good` behaves as before
        assert [i["name"] for i in report["ingresses"]] == ["good"]
        assert report["ingresses"][0]["routes"][0]["endpoints"] == 1

        code, report = await portico_check("--kubeconfig", kubeconfig, "--ingress-class", "nginx",
                                           "--all-namespaces")
        assert code == 1
        assert {i["name"]: i["same"] for i in report["ingresses"]} == {"good": True,
                                                                        "limited": False}
        [annotation] = report["ingresses"][1]["annotations"]
        assert annotation["verdict"] == "refused"


async def test_check_reads_the_secrets_annotations_name(tmp_path: Path) -> None:
    # Only TLS Secrets are listed: an auth Secret (Opaque) is read because an Ingress names it;
    # the controller ConfigMap, in the controller's namespace, because --configmap names it.
    async with running_api() as api:
        await api.create(SERVICES, o.service("web"))
        await api.create(SLICES, o.endpoint_slice("web", ["10.0.0.1"]))
        users = base64.b64encode(b"alice:{PLAIN}wonderland\n").decode()
        await api.create(SECRETS, o.secret("users", {"auth": users}))
        await api.create(INGRESSES, o.annotated(
            o.ingress("guarded", host="guarded.example"),
            **{"auth-type": "basic", "auth-secret": "users"}))
        await api.create(INGRESSES, o.annotated(
            o.ingress("lost", host="lost.example"),
            **{"auth-type": "basic", "auth-secret": "nobody"}))
        await api.create(CONFIGMAPS, o.config_map(
            "controller", {"use-forwarded-headers": "true"}, ns="ingress-nginx"))
        kubeconfig = str(write_kubeconfig(tmp_path, api.url, namespace="default"))
        code, report = await portico_check("--kubeconfig", kubeconfig,
                                           "--configmap", "ingress-nginx/controller")
        assert code == 1
        assert {i["name"]: i["same"] for i in report["ingresses"]} == {"guarded": True,
                                                                        "lost": False}
        assert report["configMap"]["same"] is True
        assert [k["name"] for k in report["configMap"]["keys"]] == ["use-forwarded-headers"]
