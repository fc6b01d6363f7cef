"""The objects `portico check` reads: a manifest directory, or a cluster's lists."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ingress.sources.files import ManifestDirectory
from ingress.store import Body, Snapshot, Store

# Kind → (list path of all namespaces, list path of one namespace with {ns}).
_LISTS = {
    "Ingress": ("/apis/networking.k8s.io/v1/ingresses",
                "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"),
    "IngressClass": ("/apis/networking.k8s.io/v1/ingressclasses", None),
    "Service": ("/api/v1/services", "/api/v1/namespaces/{ns}/services"),
    "EndpointSlice": ("/apis/discovery.k8s.io/v1/endpointslices",
                      "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
    # Only TLS Secrets: of the others, only those an Ingress names (with_named).
    "Secret": ("/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Ftls",
               "/api/v1/namespaces/{ns}/secrets?fieldSelector=type%3Dkubernetes.io%2Ftls"),
    # custom-headers names ConfigMaps.
    "ConfigMap": ("/api/v1/configmaps", "/api/v1/namespaces/{ns}/configmaps"),
}


def from_directory(directory: Path) -> Snapshot:
    """The objects of a manifest directory (files that do not parse are logged and skipped)."""
    if not directory.is_dir():
        raise OSError(f"{directory} is not a directory")
    manifests = ManifestDirectory(directory)
    manifests.refresh()
    store = Store()
    for kind, bodies in manifests.objects().items():
        store.replace_all(kind, bodies)
    return store.snapshot()


def from_cluster(
    kubeconfig: str | None, namespace: str | None, context_namespace: bool
) -> Snapshot:
    """Every object of the kinds Portico reads, listed from the API server.

    With `context_namespace` and no `namespace`, the kubeconfig context's
    namespace (else "default") is listed, as kubectl does.
    """
    return asyncio.run(_list_all(kubeconfig, namespace, context_namespace))


async def _list_all(kubeconfig: str | None, namespace: str | None,
                    context_namespace: bool) -> Snapshot:
    from ingress.operator.api import KubeClient
    from ingress.operator.kubeconfig import load_connection

    connection = load_connection(kubeconfig)
    if namespace is None and context_namespace:
        namespace = connection.default_namespace or "default"
    client = KubeClient(lambda: connection)
    store = Store()
    try:
        for kind, (every, one) in _LISTS.items():
            path = one.format(ns=namespace) if namespace and one else every
            bodies: list[Body] = []
            async for item in client.list_items(path):
                bodies.append({**item, "kind": kind})
            store.replace_all(kind, bodies)
    finally:
        await client.close()
    return store.snapshot()


def with_named(objects: Snapshot, kind: str, wanted: frozenset[tuple[str, str]],
               kubeconfig: str | None) -> Snapshot:
    """`objects` plus the `kind` objects of `wanted` that the lists left out (auth Secrets
    are not TLS; the controller ConfigMap lives in the controller's namespace)."""
    missing = sorted(wanted - set(objects.get(kind, {})))
    if not missing:
        return objects
    return asyncio.run(_get_named(objects, kind, missing, kubeconfig))


async def _get_named(objects: Snapshot, kind: str, keys: list[tuple[str, str]],
                     kubeconfig: str | None) -> Snapshot:
    from ingress.operator.api import ApiError, KubeClient
    from ingress.operator.kubeconfig import load_connection

    connection = load_connection(kubeconfig)
    client = KubeClient(lambda: connection)
    found = dict(objects.get(kind, {}))
    try:
        for namespace, name in keys:
            try:
                body = await client.get(f"/api/v1/namespaces/{namespace}/{_PLURALS[kind]}/{name}")
            except ApiError as error:
                if error.status != 404:
                    raise
                continue  # the build reports it missing
            found[(namespace, name)] = {**body, "kind": kind}
    finally:
        await client.close()
    return {**objects, kind: found}


_PLURALS = {"Secret": "secrets", "ConfigMap": "configmaps"}
