"""HTTP basic authentication against the users of a Secret (htpasswd).

The table carries password hashes only: a `{PLAIN}` entry of the Secret is
hashed (SHA-256) by the builder before it gets here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from ingress.model.filters.base import Filter, Phase
from ingress.model.filters.extauth import Template


class HashScheme(StrEnum):
    BCRYPT = "bcrypt"  # $2a$ $2b$ $2y$
    APR1 = "apr1"  # $apr1$ (Apache's MD5)
    MD5_CRYPT = "md5-crypt"  # $1$
    SHA256_CRYPT = "sha256-crypt"  # $5$
    SHA512_CRYPT = "sha512-crypt"  # $6$
    DES_CRYPT = "des-crypt"  # 13 characters, crypt(3)'s oldest
    SHA1 = "sha1"  # {SHA}
    SALTED_SHA1 = "salted-sha1"  # {SSHA}
    SHA256 = "sha256"  # {PLAIN}, hashed by the builder


# Fast enough to check on the event loop; the others are checked on a thread.
FAST_SCHEMES = frozenset((HashScheme.SHA1, HashScheme.SALTED_SHA1, HashScheme.SHA256))


@dataclass(frozen=True, slots=True)
class PasswordHash:
    scheme: HashScheme
    value: str  # as written in the Secret, scheme prefix included ({PLAIN}: hex SHA-256)


@dataclass(frozen=True, slots=True)
class BasicAuth(Filter):
    """401 with `WWW-Authenticate: Basic realm="…"` unless the request names a user of
    `users` with that user's password. The Authorization header does not go upstream."""

    PHASE: ClassVar[Phase] = Phase.ACCESS
    realm: str
    users: tuple[tuple[str, PasswordHash], ...]
    # The route's auth-signin: nginx's `error_page 401` sends every 401 of the route there.
    signin: Template | None = None
    by_name: Mapping[str, PasswordHash] = field(init=False, repr=False, compare=False)
    challenge: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", dict(self.users))
        object.__setattr__(self, "challenge", f'Basic realm="{self.realm}"'.encode("latin-1"))
