"""Manifest file text → the Kubernetes objects Portico keeps, in the store's form.

Parsing is all-or-nothing per file: the first bad document rejects the file,
so the file source can keep that file's last good objects instead of serving
half an edit. Objects come out the way the API server would hand them over:
namespaced kinds carry a namespace (default "default"), cluster-scoped kinds
none, and Secrets hold only base64 `data` (`stringData` merged into it).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from ingress.store import KINDS, Body

log = logging.getLogger(__name__)

CLUSTER_SCOPED_KINDS = frozenset(
    {"IngressClass", "GatewayClass", "Namespace", "CustomResourceDefinition"}
)
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ManifestError(ValueError):
    """A manifest file that cannot be used as a whole, with where and why."""

    def __init__(self, filename: str, reason: str, document: int | None = None) -> None:
        self.filename = filename
        self.document = document
        self.reason = reason
        where = filename if document is None else f"{filename}: document {document}"
        super().__init__(f"{where}: {reason}")


def parse_manifests(text: str, filename: str) -> list[Body]:
    """Every object of a kind in `KINDS` found in one file's text.

    Documents are numbered from 1 in errors, like lines; objects of other
    kinds are skipped with a debug log.
    """
    kept: list[Body] = []
    for number, document in _documents(text, filename):
        if document is None:
            continue  # an empty YAML document, e.g. a trailing `---`
        for path, raw in _objects(document, filename, number):
            body = _normalize(raw, filename, number, path)
            if body is not None:
                kept.append(body)
    return kept


def _documents(text: str, filename: str) -> Iterator[tuple[int, Any]]:
    if filename.endswith(".json"):
        try:
            yield 1, json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(filename, f"invalid JSON: {exc}", 1) from None
        return
    number = 0
    try:
        for number, document in enumerate(yaml.load_all(text, Loader=_Loader), start=1):
            yield number, document
    except yaml.YAMLError as exc:
        raise ManifestError(filename, f"invalid YAML: {_yaml_reason(exc)}", number + 1) from None


def _yaml_reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        if mark is not None:
            return f"line {mark.line + 1} column {mark.column + 1}: {problem}"
        return str(problem)
    return str(exc)


def _objects(document: Any, filename: str, number: int) -> Iterator[tuple[str, Any]]:
    """The objects of one document: itself, or the items of a `kind: List`."""
    if isinstance(document, dict) and document.get("kind") == "List":
        items = document.get("items")
        if items is None:
            items = []
        if not isinstance(items, list):
            raise ManifestError(filename, "items: must be a list", number)
        for index, item in enumerate(items):
            yield f"items[{index}]", item
    else:
        yield "", document


_Fail = Callable[[str, str], ManifestError]


def _normalize(raw: Any, filename: str, number: int, path: str) -> Body | None:
    def fail(field: str, message: str) -> ManifestError:
        where = f"{path}.{field}" if path else field
        return ManifestError(filename, f"{where}: {message}", number)

    if not isinstance(raw, dict):
        raise ManifestError(filename, f"{path or 'document'}: not a mapping", number)
    kind = raw.get("kind")
    if not isinstance(kind, str) or not kind:
        raise fail("kind", "missing")
    metadata = raw.get("metadata")
    if not isinstance(metadata, dict):
        raise fail("metadata", "missing")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise fail("metadata.name", "missing")
    if kind not in KINDS:
        log.debug("%s: document %d: ignoring %s %s", filename, number, kind, name,
                  extra={"file": filename})
        return None

    metadata = dict(metadata)
    namespace = metadata.get("namespace")
    if kind in CLUSTER_SCOPED_KINDS:
        metadata.pop("namespace", None)
    elif namespace is None or namespace == "":
        metadata["namespace"] = "default"
    elif not isinstance(namespace, str):
        raise fail("metadata.namespace", "must be a string")
    body = {**raw, "metadata": metadata}
    if kind == "Secret":
        body = _secret_data(body, fail)
    return body


def _secret_data(body: dict[str, Any], fail: _Fail) -> dict[str, Any]:
    """Merge `stringData` into base64 `data`, as the API server does on write."""
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise fail("data", "must be a mapping")
    merged: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise fail(f"data.{key}", "must be a base64 string")
        # Long values are often wrapped over lines; the API server ignores those breaks.
        value = value.replace("\n", "").replace("\r", "")
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            raise fail(f"data.{key}", "not valid base64") from None
        merged[str(key)] = value
    string_data = body.pop("stringData", None) or {}
    if not isinstance(string_data, dict):
        raise fail("stringData", "must be a mapping")
    for key, value in string_data.items():
        if not isinstance(value, str):
            raise fail(f"stringData.{key}", "must be a string")
        merged[str(key)] = base64.b64encode(value.encode()).decode("ascii")
    body["data"] = merged
    return body
