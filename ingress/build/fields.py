"""Typed reads from raw Kubernetes dicts that fail with the field's name.

The builder gets whatever the API server or a manifest directory holds.
Every read of a nested value goes through these helpers so that a wrong
type becomes a `FieldError` naming the field, which the caller turns into
a `Problem` for the object instead of a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ingress.model import ObjectRef, Problem


class FieldError(Exception):
    """One field of one object is unusable; the caller knows which object."""

    def __init__(self, field: str, message: str, reason: str = "InvalidIngress") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.reason = reason

    def problem(self, obj: ObjectRef) -> Problem:
        return Problem(obj, self.field, self.message, self.reason)


def mapping(value: Any, field: str) -> Mapping[str, Any]:
    """An optional object: absent (None) reads as empty."""
    if value.__class__ is dict:  # the common case, without the ABC check's cost
        return value
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise FieldError(field, f"must be an object, not {type(value).__name__}")
    return value


def sequence(value: Any, field: str) -> Sequence[Any]:
    """An optional list: absent (None) reads as empty."""
    if value.__class__ is list:
        return value
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise FieldError(field, f"must be a list, not {type(value).__name__}")
    return value


def optional_str(value: Any, field: str) -> str:
    """An optional string: absent (None) reads as ''."""
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldError(field, f"must be a string, not {type(value).__name__}")
    return value


def required_str(value: Any, field: str) -> str:
    text = optional_str(value, field)
    if not text:
        raise FieldError(field, "is required")
    return text


def port_number(value: Any, field: str) -> int:
    # bool is an int subclass; `true` is never a port.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise FieldError(field, f"must be a port number 1-65535, not {value!r}")
    return value

