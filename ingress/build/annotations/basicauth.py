"""Basic authentication: auth-type, auth-secret, auth-secret-type, auth-realm.

The users come from a Secret of the Ingress's namespace: an htpasswd file
in its `auth` key (`auth-secret-type: auth-file`, the default), or one
user per key whose value is the hash (`auth-map`). As in ingress-nginx,
anything that keeps the users from being read (no Secret, no `auth` key,
digest authentication) answers 503 on the Ingress's routes: never
unauthenticated. A line that is not `user:hash` in a form nginx checks is
reported and that user cannot sign in.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from ingress.build import htpasswd
from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import ObjectRef, Problem
from ingress.model.filters.basicauth import BasicAuth, PasswordHash
from ingress.model.filters.core import HeaderEdits, RequestHeaders

# ingress-nginx's CharsWithSpace: what it lets into `auth_basic "…"`.
_REALM = re.compile(r"[-\w.~:/?#\[\]@!$&'()*+,;=% ]*")
_SECRET_TYPES = ("auth-file", "auth-map")
_REASON = "InvalidAuthSecret"


def _realm(value: str) -> str:
    if not _REALM.fullmatch(value):
        raise values.InvalidValue(f"must be letters, digits, spaces and URL characters "
                                  f"(no quotes), not {value!r}")
    return value


def _secret_type(value: str) -> str:
    if value.strip() not in _SECRET_TYPES:
        raise values.InvalidValue(f"must be auth-file or auth-map, not {value!r}")
    return value.strip()


def secret_key(annotations: Annotations, name: str) -> tuple[str, str] | None:
    """The (namespace, name) annotation `name` refers to, recorded as referenced; None when
    it is missing, invalid or names another namespace (reported)."""
    if name not in annotations.values:
        annotations.report(name, "is missing: it names the Secret to authenticate with")
        return None
    value = annotations.parsed(name, values.object_reference)
    if value is None:
        return None
    namespace, _, secret = value.rpartition("/")
    own = annotations.obj.namespace
    if namespace and namespace != own and not annotations.lookups.config.cross_namespace:
        annotations.report(name, f"names a Secret of namespace {namespace!r}: only the "
                           f"Ingress's own namespace ({own!r}) may be used "
                           "(allow-cross-namespace-resources is off)")
        return None
    key = (namespace or own, secret)
    annotations.lookups.referenced_secrets.add(key)
    return key


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    auth_type = annotations.values.get("auth-type")
    if auth_type is None:
        if "auth-secret" in annotations.values:
            annotations.report("auth-secret", "has no effect without auth-type: basic "
                               "(as in ingress-nginx): the routes are not authenticated")
        return
    auth = _basic_auth(annotations, auth_type)
    if auth is None:
        spec.denied = True  # the reason is reported
    else:
        # ingress-nginx's `proxy_set_header Authorization ""`: the password stays here.
        spec.filters += (auth, RequestHeaders(HeaderEdits(remove=frozenset({b"authorization"}))))


def _basic_auth(annotations: Annotations, auth_type: Any) -> BasicAuth | None:
    if auth_type != "basic":
        message = ("digest authentication is not supported" if auth_type == "digest"
                   else f"must be basic, not {auth_type!r}")
        annotations.report("auth-type", f"{message}: the routes answer 503")
        return None
    realm = annotations.parsed("auth-realm", _realm)
    kind = annotations.parsed("auth-secret-type", _secret_type) or "auth-file"
    key = secret_key(annotations, "auth-secret")
    if key is None or any(annotations.invalid(name) for name in ("auth-realm",
                                                                  "auth-secret-type")):
        return None
    secret = annotations.lookups.secrets.get(key)
    ref = ObjectRef("Secret", *key)
    if secret is None:
        annotations.report("auth-secret", f"{ref} not found: the routes answer 503",
                           "SecretNotFound")
        return None
    data = secret.get("data")
    entries = _entries(annotations, ref, data if isinstance(data, Mapping) else {}, kind)
    if entries is None:
        return None
    users: list[tuple[str, PasswordHash]] = []
    for where, user, written in entries:
        try:
            if not user:
                raise htpasswd.InvalidHash("is not user:hash")
            users.append((user, htpasswd.password_hash(written)))
        except htpasswd.InvalidHash as error:
            annotations.problems.append(
                Problem(ref, where, f"{error}: this user cannot sign in", _REASON))
    if not users:
        annotations.report("auth-secret", f"{ref} holds no usable user: every request "
                           "gets 401", _REASON)
    return BasicAuth(realm or "", tuple(users))


def _entries(annotations: Annotations, ref: ObjectRef, data: Mapping[str, Any],
             kind: str) -> list[tuple[str, str, str]] | None:
    """(where, user, hash as written) of every user of the Secret; None if unreadable."""
    if kind == "auth-map":
        found = []
        for user in sorted(data):
            text = _decoded(annotations, ref, data, user)
            if text is not None:
                found.append((f'data["{user}"]', user, text.strip()))
        return found
    if not isinstance(data.get("auth"), str):
        annotations.report("auth-secret", f'{ref} has no "auth" key, where auth-file wants '
                           "an htpasswd file: the routes answer 503", _REASON)
        return None
    text = _decoded(annotations, ref, data, "auth")
    if text is None:
        return None
    return [(f'data["auth"] line {n}', user, written)
            for n, user, written in htpasswd.htpasswd_lines(text)]


def _decoded(annotations: Annotations, ref: ObjectRef, data: Mapping[str, Any],
             key: str) -> str | None:
    raw = data.get(key)
    try:
        return base64.b64decode(raw if isinstance(raw, str) else "", validate=True).decode()
    except (binascii.Error, ValueError):
        annotations.problems.append(
            Problem(ref, f'data["{key}"]', "is not base64 UTF-8 text", _REASON))
        return None
