"""Password hashes as htpasswd writes them → `PasswordHash`, the formats nginx's auth_basic takes.

nginx checks a password with crypt(3) (bcrypt, MD5, SHA-256/512, DES) or
one of its `{SCHEME}` prefixes (PLAIN, SHA, SSHA); Apache's `$apr1$` MD5
is what `htpasswd` writes by default. Only the form of a hash is checked
here: whether a password matches is the proxy's business.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from ingress.model.filters.basicauth import HashScheme, PasswordHash

_B64 = r"[./0-9A-Za-z]"
_FORMS = (
    (HashScheme.BCRYPT, re.compile(rf"\$2[aby]\$\d\d\${_B64}{{53}}")),
    (HashScheme.APR1, re.compile(rf"\$apr1\$[^$:]{{0,8}}\${_B64}{{22}}")),
    (HashScheme.MD5_CRYPT, re.compile(rf"\$1\$[^$:]{{0,8}}\${_B64}{{22}}")),
    (HashScheme.SHA256_CRYPT, re.compile(rf"\$5\$(rounds=\d+\$)?[^$:]{{0,16}}\${_B64}{{43}}")),
    (HashScheme.SHA512_CRYPT, re.compile(rf"\$6\$(rounds=\d+\$)?[^$:]{{0,16}}\${_B64}{{86}}")),
    (HashScheme.DES_CRYPT, re.compile(rf"{_B64}{{13}}")),
)


class InvalidHash(ValueError):
    """Not a password hash nginx would check; the message says why."""


def password_hash(text: str) -> PasswordHash:
    """One hash as written after `user:`, or InvalidHash."""
    if text.startswith("{PLAIN}"):
        digest = hashlib.sha256(text[len("{PLAIN}"):].encode()).hexdigest()
        return PasswordHash(HashScheme.SHA256, digest)
    if text.startswith("{SHA}"):
        _digest(text[len("{SHA}"):], exactly=20)
        return PasswordHash(HashScheme.SHA1, text)
    if text.startswith("{SSHA}"):
        _digest(text[len("{SSHA}"):], exactly=None)
        return PasswordHash(HashScheme.SALTED_SHA1, text)
    for scheme, form in _FORMS:
        if form.fullmatch(text):
            return PasswordHash(scheme, text)
    raise InvalidHash(
        "is not a password hash nginx checks (bcrypt, $apr1$, $1$, $5$, $6$, DES crypt, "
        "{SHA}, {SSHA} or {PLAIN})"
    )


def _digest(text: str, exactly: int | None) -> None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidHash("is not base64 after its {SCHEME} prefix") from None
    if (exactly is not None and len(raw) != exactly) or len(raw) < 20:
        raise InvalidHash("does not hold a SHA-1 digest after its {SCHEME} prefix")


def htpasswd_lines(text: str) -> list[tuple[int, str, str]]:
    """(line number, user, hash) of each user line; blank lines and #comments are skipped."""
    users = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, colon, rest = line.partition(":")
        # Some tools append fields after the hash (`user:hash:comment`); nginx stops there.
        users.append((number, user if colon else "", rest.split(":", 1)[0] if colon else ""))
    return users
