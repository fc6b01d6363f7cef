"""`spec.rules[].http.paths[]` path and pathType → the matcher's key.

Exact paths are kept as written (case-sensitive, trailing slash
significant). Prefix paths match element-wise, so the key is the path
without trailing slashes (`model.normalize_prefix`). ImplementationSpecific
behaves as Prefix here: Portico has no regex locations.
"""

from __future__ import annotations

from ingress.build.fields import FieldError
from ingress.model import PathType, normalize_prefix

_PATH_TYPES = {
    "Exact": PathType.EXACT,
    "Prefix": PathType.PREFIX,
    "ImplementationSpecific": PathType.PREFIX,
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


def match_key(path: str, raw_type: str, field: str) -> tuple[PathType, str]:
    """(path type, key in VirtualHost.exact or .prefixes) or FieldError.

    `field` names the path; the pathType field is its sibling.
    """
    parent = field.rpartition(".")[0]
    path_type = parse_path_type(raw_type, f"{parent}.pathType")
    if not path and raw_type == "ImplementationSpecific":
        path = "/"
    if not path.startswith("/"):
        raise FieldError(field, f"must be absolute (start with '/'), not {path!r}", "InvalidPath")
    if raw_type != "ImplementationSpecific":
        for bad in _INVALID_SEQUENCES:
            if bad in path:
                raise FieldError(field, f"must not contain {bad!r}: {path!r}", "InvalidPath")
        for bad in _INVALID_SUFFIXES:
            if path.endswith(bad):
                raise FieldError(field, f"must not end with {bad!r}: {path!r}", "InvalidPath")
    if path_type is PathType.EXACT:
        return path_type, path
    return path_type, normalize_prefix(path)
