"""CORS: enable-cors and cors-allow-origin/-methods/-headers/-expose-headers/-credentials/-max-age.

Read as ingress-nginx reads them: an invalid optional value falls back to
its default (reported), an origin written without a scheme is skipped
(reported), `*` anywhere in the list allows every origin. A `*.` in an
origin stands for exactly one DNS label.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import Regex
from ingress.model.filters.cors import CorsHeaders, CorsPolicy, CorsPreflight

DEFAULT_METHODS = "GET, PUT, POST, DELETE, PATCH, OPTIONS"
DEFAULT_HEADERS = (
    "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,"
    "Content-Type,Range,Authorization"
)
DEFAULT_MAX_AGE = 1728000

# ingress-nginx's validation of the whole list (spaces removed), then of each origin.
_ORIGIN_LIST = re.compile(r"((((([a-z]+://)?(\*\.)?[A-Za-z0-9\-.]*(:\d+)?,?)|null)+)|\*)?")
_ORIGIN = re.compile(r"[a-z]+://(\*\.)?[A-Za-z0-9\-.]*(:\d+)?|\*|null")
_HEADERS = re.compile(r"[A-Za-z0-9\-_, ]*")
_METHODS = re.compile(r"([A-Za-z]+,?\s?)+")
_EXPOSE_HEADERS = re.compile(r"(([A-Za-z0-9\-_]+|\*),?\s?)+")
# One DNS label, as ingress-nginx substitutes it for `*`.
_LABEL = r"[A-Za-z0-9\-]+"


def _origin_pattern(origin: str) -> str:
    return "(" + re.escape(origin).replace(r"\*", _LABEL, 1) + ")"


# Allows no origin: what a list of origins that are all invalid comes to.
_NO_ORIGIN = Regex(r"[^\s\S]")


class _Origins:
    """cors-allow-origin → None (every origin) or the pattern of the listed ones."""

    def __init__(self, annotations: Annotations) -> None:
        self.annotations = annotations

    def __call__(self, value: str) -> Regex | None:
        if not _ORIGIN_LIST.fullmatch(value.replace(" ", "")):
            raise values.InvalidValue(
                f"{value!r} is not a list of origins like https://app.example.com:8443 "
                "or https://*.example.com; ingress-nginx then allows every origin, and so "
                "does Portico"
            )
        patterns = []
        for item in value.split(","):
            origin = item.strip()
            if origin == "*":
                return None
            if not origin:
                continue
            if _ORIGIN.fullmatch(origin):
                patterns.append(_origin_pattern(origin))
            else:
                self.annotations.report("cors-allow-origin", f"{origin!r} is skipped: an "
                                        "origin needs a scheme, like https://app.example.com")
        if patterns:
            return Regex("|".join(patterns), case_insensitive=True)
        if value.strip():
            self.annotations.report("cors-allow-origin", "names no usable origin, so none is "
                                    "allowed (ingress-nginx would allow every origin)")
            return _NO_ORIGIN
        return None  # blank: every origin, as ingress-nginx reads it


def _matching(pattern: re.Pattern[str], expected: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not pattern.fullmatch(value):
            raise values.InvalidValue(f"must be {expected}, not {value!r}; the default applies")
        return value

    return parse


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    if not annotations.parsed("enable-cors", values.boolean):
        return
    # Every origin (None) when the annotation is absent or invalid, as in ingress-nginx.
    origins = annotations.parsed("cors-allow-origin", _Origins(annotations))
    methods = annotations.parsed(
        "cors-allow-methods", _matching(_METHODS, "methods separated by commas"))
    headers = annotations.parsed(
        "cors-allow-headers", _matching(_HEADERS, "header names separated by commas"))
    expose = annotations.parsed(
        "cors-expose-headers", _matching(_EXPOSE_HEADERS, "header names or * separated by commas"))
    credentials = annotations.parsed("cors-allow-credentials", values.boolean)
    max_age = annotations.parsed("cors-max-age", values.integer)
    policy = CorsPolicy(
        origins=origins,
        allow_methods=methods or DEFAULT_METHODS,
        allow_headers=headers or DEFAULT_HEADERS,
        expose_headers=expose or "",
        allow_credentials=credentials if credentials is not None else True,
        max_age=max_age if max_age is not None else DEFAULT_MAX_AGE,
    )
    spec.filters.append(CorsPreflight(policy))
    spec.response_filters.append(CorsHeaders(policy))

