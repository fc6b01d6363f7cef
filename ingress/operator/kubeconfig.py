"""Where the API server is and how to authenticate: a kubeconfig or the in-cluster account.

kopf only reads a kubeconfig through the `kubernetes`/`pykube` libraries, and
only from their default locations, so `--kubeconfig` is parsed here into a
`kopf.ConnectionInfo`. The same object gives our own API client its TLS
context and headers, so kopf and the status/Lease/Event writer authenticate
identically.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import kopf
import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeconfigError(Exception):
    """The kubeconfig is missing, unreadable, or does not describe a usable context."""


def load_connection(path: str | None = None) -> kopf.ConnectionInfo:
    """`path`, else $KUBECONFIG, else ~/.kube/config, else the in-cluster service account."""
    candidates: list[Path]
    if path:
        candidates = [Path(path)]
        if not candidates[0].is_file():
            raise KubeconfigError(f"kubeconfig {path}: no such file")
    elif os.environ.get("KUBECONFIG"):
        candidates = [Path(p) for p in os.environ["KUBECONFIG"].split(os.pathsep) if p]
    else:
        candidates = [Path.home() / ".kube" / "config"]
    existing = [p for p in candidates if p.is_file()]
    if existing:
        return _from_kubeconfig(existing)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return _in_cluster()
    raise KubeconfigError(
        "no kubeconfig found (tried " + ", ".join(map(str, candidates)) + ") and not in a cluster"
    )


def _in_cluster() -> kopf.ConnectionInfo:
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:  # an IPv6 service address needs brackets in a URL
        host = f"[{host}]"
    token_file = SERVICE_ACCOUNT_DIR / "token"
    ns_file = SERVICE_ACCOUNT_DIR / "namespace"
    ca_file = SERVICE_ACCOUNT_DIR / "ca.crt"
    try:
        # Re-read at every login: projected service-account tokens rotate.
        token = token_file.read_text().strip()
    except OSError as e:
        raise KubeconfigError(f"in-cluster service account: {token_file}: {e.strerror}") from e
    return kopf.ConnectionInfo(
        server=f"https://{host}:{port}",
        ca_path=str(ca_file) if ca_file.is_file() else None,
        token=token,
        default_namespace=ns_file.read_text().strip() if ns_file.is_file() else None,
    )


def _named(doc: dict[str, Any], section: str, source: Path) -> dict[str, dict[str, Any]]:
    entries = doc.get(section) or []
    if not isinstance(entries, list):
        raise KubeconfigError(f"kubeconfig {source}: {section}: must be a list")
    found: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise KubeconfigError(f"kubeconfig {source}: {section}[{i}].name: missing")
        body = entry.get(section[:-1]) or {}
        if not isinstance(body, dict):
            raise KubeconfigError(f"kubeconfig {source}: {section}[{i}]: must be a mapping")
        found[entry["name"]] = body
    return found


def _from_kubeconfig(files: list[Path]) -> kopf.ConnectionInfo:
    # KUBECONFIG may list several files; as kubectl does, the first file that
    # defines a name (or current-context) wins.
    clusters: dict[str, tuple[dict[str, Any], Path]] = {}
    users: dict[str, tuple[dict[str, Any], Path]] = {}
    contexts: dict[str, tuple[dict[str, Any], Path]] = {}
    current: str | None = None
    for source in files:
        try:
            doc = yaml.safe_load(source.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise KubeconfigError(f"kubeconfig {source}: cannot read: {e}") from e
        if not isinstance(doc, dict):
            raise KubeconfigError(f"kubeconfig {source}: not a mapping")
        for table, section in ((clusters, "clusters"), (users, "users"), (contexts, "contexts")):
            for name, body in _named(doc, section, source).items():
                table.setdefault(name, (body, source))
        current = current or doc.get("current-context") or None
    where = ", ".join(map(str, files))
    if not current:
        raise KubeconfigError(f"kubeconfig {where}: current-context: not set")
    if current not in contexts:
        raise KubeconfigError(f"kubeconfig {where}: current-context {current!r}: no such context")
    context, _ = contexts[current]
    cluster_name, user_name = context.get("cluster"), context.get("user")
    if cluster_name not in clusters:
        raise KubeconfigError(
            f"kubeconfig {where}: contexts[{current}].cluster {cluster_name!r}: no such cluster"
        )
    cluster, cluster_file = clusters[cluster_name]
    user, user_file = users.get(user_name, ({}, cluster_file)) if user_name else ({}, cluster_file)
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise KubeconfigError(
            f"kubeconfig {cluster_file}: clusters[{cluster_name}].server: missing"
        )
    return kopf.ConnectionInfo(
        server=server.rstrip("/"),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        ca_data=_pem(cluster, "certificate-authority", cluster_file, f"clusters[{cluster_name}]"),
        certificate_data=_pem(user, "client-certificate", user_file, f"users[{user_name}]"),
        private_key_data=_pem(user, "client-key", user_file, f"users[{user_name}]"),
        token=_token(user, user_file, f"users[{user_name}]"),
        username=user.get("username"),
        password=user.get("password"),
        default_namespace=context.get("namespace"),
    )


def _pem(section: dict[str, Any], key: str, source: Path, where: str) -> str | None:
    """The PEM text of `key-data` (base64) or of the file `key` (relative to the kubeconfig)."""
    data = section.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(data, validate=True).decode("ascii")
        except (ValueError, TypeError) as e:
            raise KubeconfigError(f"kubeconfig {source}: {where}.{key}-data: not base64") from e
    path = section.get(key)
    if not path:
        return None
    return _read_relative(source, str(path), f"{where}.{key}")


def _token(user: dict[str, Any], source: Path, where: str) -> str | None:
    if user.get("token"):
        return str(user["token"])
    if user.get("tokenFile"):
        return _read_relative(source, str(user["tokenFile"]), f"{where}.tokenFile").strip()
    return None


def _read_relative(source: Path, path: str, where: str) -> str:
    full = (source.parent / os.path.expanduser(path)).resolve()
    try:
        return full.read_text()
    except OSError as e:
        raise KubeconfigError(f"kubeconfig {source}: {where}: {full}: {e.strerror}") from e
