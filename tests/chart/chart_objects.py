"""Lookups in a rendered chart: the objects, the controller pod, its flags."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Manifest = dict[str, Any]
# The `render` fixture: `helm template` with the given values, parsed.
Render = Callable[[Mapping[str, Any]], list[Manifest]]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if name is None or m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def workload(manifests: list[Manifest]) -> Manifest:
    found = [m for m in manifests if m["kind"] in ("Deployment", "DaemonSet")]
    assert len(found) == 1, f"expected one controller workload, found {len(found)}"
    return found[0]


def pod_spec(manifests: list[Manifest]) -> dict[str, Any]:
    spec: dict[str, Any] = workload(manifests)["spec"]["template"]["spec"]
    return spec


def container(manifests: list[Manifest]) -> dict[str, Any]:
    containers = pod_spec(manifests)["containers"]
    assert len(containers) == 1
    found: dict[str, Any] = containers[0]
    return found


def args(manifests: list[Manifest]) -> list[str]:
    return [str(a) for a in container(manifests)["args"]]


def flags(manifests: list[Manifest]) -> dict[str, str | None]:
    """`--name=value` → {name: value}; a bare `--name` → {name: None}."""
    parsed: dict[str, str | None] = {}
    for arg in args(manifests)[1:]:
        assert arg.startswith("--"), f"controller argument {arg!r} is not a --flag"
        name, sep, value = arg[2:].partition("=")
        assert name not in parsed, f"flag --{name} given twice"
        parsed[name] = value if sep else None
    return parsed


def container_port(manifests: list[Manifest], port: int | str) -> int:
    """A probe's or Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    for declared in container(manifests)["ports"]:
        if declared["name"] == port:
            number: int = declared["containerPort"]
            return number
    raise AssertionError(f"container has no port named {port!r}")


def pod_labels(manifests: list[Manifest]) -> dict[str, str]:
    labels: dict[str, str] = workload(manifests)["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())
