"""GatewayClasses: which are ours, whether we accept them, and their status.

Ours are those whose `spec.controllerName` is `--gateway-controller-name`.
Portico takes no parameters, so a class with a `parametersRef` is not
accepted. The installed Gateway API version is read from the bundle-version
annotation of the Gateway CRD, when the source could read that CRD.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingress.build.gateway.features import SUPPORTED_FEATURES
from ingress.build.gateway.objects import generation, mapping_of
from ingress.build.gateway.status import FALSE, TRUE, UNKNOWN, Condition, GatewayClassStatus
from ingress.store import Body, Key, Snapshot

GATEWAY_CRD = "gateways.gateway.networking.k8s.io"
BUNDLE_VERSION = "gateway.networking.k8s.io/bundle-version"
# Portico implements the v1 API; later v1.x releases only add to it.
_SUPPORTED_VERSION = re.compile(r"v1\.\d+(\.\d+)?(-.*)?")


@dataclass(frozen=True, slots=True)
class GatewayClasses:
    accepted: frozenset[str]
    # Ours but not accepted, with the reason (shown on their Gateways).
    rejected: Mapping[str, str]
    statuses: tuple[GatewayClassStatus, ...]


def _version_condition(objects: Snapshot, gen: int) -> Condition:
    crd = objects.get("CustomResourceDefinition", {}).get(("", GATEWAY_CRD))
    annotations = mapping_of(mapping_of((crd or {}).get("metadata")).get("annotations"))
    version = annotations.get(BUNDLE_VERSION)
    if not isinstance(version, str):
        return Condition("SupportedVersion", UNKNOWN, "Pending",
                         "the installed Gateway API version is not known (the CRD "
                         f"{GATEWAY_CRD} was not readable)", gen)
    if _SUPPORTED_VERSION.fullmatch(version):
        return Condition("SupportedVersion", TRUE, "SupportedVersion",
                         f"Gateway API {version} is installed; Portico implements the v1 API", gen)
    return Condition("SupportedVersion", FALSE, "UnsupportedVersion",
                     f"Gateway API {version} is installed; Portico implements v1.x "
                     "(serving it as well as it can)", gen)


def _status(name: str, body: Body, objects: Snapshot) -> tuple[GatewayClassStatus, str | None]:
    gen = generation(body)
    spec: Mapping[str, Any] = mapping_of(body.get("spec"))
    if spec.get("parametersRef") is not None:
        reason: str | None = "Portico takes no parameters: remove spec.parametersRef"
        accepted = Condition("Accepted", FALSE, "InvalidParameters", reason or "", gen)
    else:
        reason = None
        accepted = Condition("Accepted", TRUE, "Accepted", "served by Portico", gen)
    status = GatewayClassStatus(name, (accepted, _version_condition(objects, gen)),
                                SUPPORTED_FEATURES)
    return status, reason


def select_classes(objects: Snapshot, controller_name: str) -> GatewayClasses:
    accepted: set[str] = set()
    rejected: dict[str, str] = {}
    statuses = []
    bodies: Mapping[Key, Body] = objects.get("GatewayClass", {})
    for (_, name), body in sorted(bodies.items()):
        if mapping_of(body.get("spec")).get("controllerName") != controller_name:
            continue
        status, reason = _status(name, body, objects)
        statuses.append(status)
        if reason is None:
            accepted.add(name)
        else:
            rejected[name] = reason
    return GatewayClasses(frozenset(accepted), rejected, tuple(statuses))
