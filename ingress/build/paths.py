"""`spec.rules[].http.paths[]` path and pathType → the claim key of a location.

Exact paths are kept as written (case-sensitive, trailing slash
significant). Prefix paths match element-wise: `/foo` is nginx's
`location = /foo` plus `location /foo/`, so its key is the normalized
path with one trailing slash. ImplementationSpecific is what ingress-nginx
makes of it: a plain nginx prefix location, `/foo` also matching `/foobar`.
Two paths of a host with the same key are the same location (the older
Ingress keeps it).
"""

from __future__ import annotations

import re

from ingress.build.fields import FieldError
from ingress.model import PathType, normalize_prefix

_PATH_TYPES = {
    "Exact": PathType.EXACT,
    "Prefix": PathType.PREFIX,
    "ImplementationSpecific": PathType.IMPLEMENTATION_SPECIFIC,
}
# The API server rejects these in Exact and Prefix paths; a manifest directory
# does not go through it, so the builder checks again.
_INVALID_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_SUFFIXES = ("/..", "/.")


def parse_path_type(raw: str, field: str) -> PathType:
    if not raw:
        raise FieldError(field, "is required (Exact, Prefix or ImplementationSpecific)",
                         "InvalidPath")
    path_type = _PATH_TYPES.get(raw)
    if path_type is None:
        raise FieldError(
            field, f"{raw!r} is not Exact, Prefix or ImplementationSpecific", "InvalidPath"
        )
    return path_type


def location_key(path: str, path_type: PathType) -> str:
    """The key of a path's location: `=path` for Exact, its prefix string otherwise."""
    if path_type is PathType.EXACT:
        return "=" + path
    if path_type is PathType.PREFIX:
        return normalize_prefix(path) + "/"
    return path


def checked_path(path: str, raw_type: str, field: str) -> tuple[str, PathType]:
    """(path, path type) or FieldError; `field` names the path, the pathType is its sibling."""
    parent = field.rpartition(".")[0]
    path_type = parse_path_type(raw_type, f"{parent}.pathType")
    if not path and path_type is PathType.IMPLEMENTATION_SPECIFIC:
        path = "/"
    if not path.startswith("/"):
        raise FieldError(field, f"must be absolute (start with '/'), not {path!r}", "InvalidPath")
    if path_type is not PathType.IMPLEMENTATION_SPECIFIC:
        for bad in _INVALID_SEQUENCES:
            if bad in path:
                raise FieldError(field, f"must not contain {bad!r}: {path!r}", "InvalidPath")
        for bad in _INVALID_SUFFIXES:
            if path.endswith(bad):
                raise FieldError(field, f"must not end with {bad!r}: {path!r}", "InvalidPath")
    return path, path_type


# ingress-nginx's strict-validate-path-type: Exact and Prefix paths are plain.
_STRICT_PATH = re.compile(r"/[A-Za-z0-9._\-/]*")


def check_strict(path: str, raw_type: str, field: str) -> None:
    """FieldError unless an Exact or Prefix path is plain (strict-validate-path-type)."""
    if path and raw_type != "ImplementationSpecific" and not _STRICT_PATH.fullmatch(path):
        raise FieldError(field, f"{path!r} cannot be used with pathType {raw_type} "
                         "(strict-validate-path-type: letters, digits and /._- only)",
                         "InvalidPath")
