"""The emulated API server with the Gateway API installed, as its CRDs would install it.

`install_gateway_api` registers gateway.networking.k8s.io's kinds (with
their status subresources) and the Gateway CRD object carrying the
bundle-version annotation. `GatewayEmulator` also does what an API server
does for custom resources and kmock 0.8 does not: a change to an object's
`spec` increments `metadata.generation` (observedGeneration is checked
against it). Importing this module makes kmock route `/api/v1/namespaces`
itself (kmock 0.8 parses it as a namespaced URL's prefix and fails), which
watching Namespaces needs.
"""

from __future__ import annotations

import aiohttp.web
import attrs
import kmock
from kmock._internal import parsing

from kube.emulator import Emulator

GROUP = "gateway.networking.k8s.io"
BUNDLE_VERSION = "v1.3.0"
VERBS = {"get", "list", "watch", "create", "patch", "update", "delete"}
KINDS = {  # plural: (kind, versions, namespaced)
    "gatewayclasses": ("GatewayClass", ("v1",), False),
    "gateways": ("Gateway", ("v1",), True),
    "httproutes": ("HTTPRoute", ("v1",), True),
    "referencegrants": ("ReferenceGrant", ("v1", "v1beta1"), True),
}

GATEWAY_CLASSES = f"/apis/{GROUP}/v1/gatewayclasses"
GATEWAYS = f"/apis/{GROUP}/v1/namespaces/{{ns}}/gateways"
HTTPROUTES = f"/apis/{GROUP}/v1/namespaces/{{ns}}/httproutes"
GRANTS = f"/apis/{GROUP}/v1beta1/namespaces/{{ns}}/referencegrants"
NAMESPACES = "/api/v1/namespaces"

_parse_path = parsing.parse_path


def _parse_namespaces_path(path: str) -> parsing.ParsedPath:
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4:
        name = parts[3] if len(parts) == 4 else None
        return parsing.ParsedPath("", "v1", "namespaces", None, name, None)
    return _parse_path(path)


parsing.parse_path = _parse_namespaces_path


@attrs.define(kw_only=True)
class GatewayEmulator(Emulator):
    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        data = request.data
        if (request.action == kmock.action.UPDATE and request.resource is not None
                and request.subresource is None and isinstance(data, dict) and "spec" in data):
            key = (request.resource, request.namespace, request.name)
            if key in self.objects and not (current := self.objects[key]).deleted:
                generation = int(current.raw.get("metadata", {}).get("generation") or 1)
                data.setdefault("metadata", {})["generation"] = generation + 1
        return await super()._handle(request)


def install_gateway_api(emulator: Emulator) -> None:
    for plural, (kind, versions, namespaced) in KINDS.items():
        for version in versions:
            emulator.resources[f"{GROUP}/{version}/{plural}"] = {
                "kind": kind, "namespaced": namespaced, "singular": kind.lower(),
                "verbs": VERBS, "subresources": {"status"},
            }
    emulator.put("apiextensions.k8s.io/v1/customresourcedefinitions", {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gateways.{GROUP}",
                     "annotations": {f"{GROUP}/bundle-version": BUNDLE_VERSION}},
    })

