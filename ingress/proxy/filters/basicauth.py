"""Runner of basic authentication (ingress.model.filters.basicauth).

Passwords are checked in constant time by the libraries that know each
format: `bcrypt` for bcrypt, passlib (the maintained `libpass` fork) for
the crypt(3) family, hashlib + hmac.compare_digest for the {SCHEME} ones.
bcrypt and crypt hashes are slow on purpose (a bcrypt check takes tens to
hundreds of milliseconds), so they run on a small thread pool, never on
the event loop, and the request waits (SUSPENDED). A credential that
passed is remembered as an HMAC under a key drawn at start (never the
password), so a client's next requests pass without hashing again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import bcrypt

from ingress.model.filters.basicauth import FAST_SCHEMES, BasicAuth, HashScheme, PasswordHash
from ingress.proxy.filters.access import PENDING, Denial, Done, Verdict, access_filter
from ingress.proxy.filters.registry import FilterHost, FilterServices
from ingress.proxy.variables import render

if TYPE_CHECKING:
    import asyncio

    from ingress.proxy.exchange import Exchange

# Credentials remembered after a slow check passed.
MAX_REMEMBERED = 4096
# Threads hashing passwords: few, so a flood of wrong passwords cannot take every core.
HASHING_THREADS = 2

# passlib's handlers of the crypt(3) family, by name: imported with the first such hash
# checked, so that a worker serving no such hash does not hold passlib.
_CRYPT = {
    HashScheme.APR1: "apr_md5_crypt",
    HashScheme.MD5_CRYPT: "md5_crypt",
    HashScheme.SHA256_CRYPT: "sha256_crypt",
    HashScheme.SHA512_CRYPT: "sha512_crypt",
    HashScheme.DES_CRYPT: "des_crypt",
}


def matches(password: bytes, stored: PasswordHash) -> bool:
    """Whether `password` is the one `stored` was made from (constant time per format)."""
    scheme, value = stored.scheme, stored.value
    try:
        if scheme is HashScheme.BCRYPT:
            return bcrypt.checkpw(password, value.encode())
        if scheme is HashScheme.SHA256:
            return hmac.compare_digest(hashlib.sha256(password).hexdigest(), value)
        if scheme is HashScheme.SHA1:
            digest = base64.b64decode(value[len("{SHA}"):])
            return hmac.compare_digest(hashlib.sha1(password).digest(), digest)
        if scheme is HashScheme.SALTED_SHA1:
            raw = base64.b64decode(value[len("{SSHA}"):])
            return hmac.compare_digest(hashlib.sha1(password + raw[20:]).digest(), raw[:20])
        from passlib import hash as passlib_hash

        return bool(getattr(passlib_hash, _CRYPT[scheme]).verify(password, value))
    except (ValueError, TypeError, binascii.Error):
        return False  # a hash its library refuses matches nothing


class PasswordChecks:
    """Credentials that passed (as keyed digests), and the threads that check hashes."""

    def __init__(self, services: FilterServices) -> None:
        self.loop: asyncio.AbstractEventLoop = services.loop
        self._key = os.urandom(32)
        self._passed: OrderedDict[bytes, None] = OrderedDict()
        self._threads: ThreadPoolExecutor | None = None

    def token(self, authorization: bytes, stored: PasswordHash) -> bytes:
        """Stands for (credentials, hash) without revealing the password."""
        message = authorization + b"\0" + stored.value.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def passed_before(self, token: bytes) -> bool:
        if token in self._passed:
            self._passed.move_to_end(token)
            return True
        return False

    def check_later(self, password: bytes, stored: PasswordHash, token: bytes,
                    then: Callable[[bool], None]) -> None:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(HASHING_THREADS, "portico-passwords")
        future = self.loop.run_in_executor(self._threads, matches, password, stored)

        def checked(_: object) -> None:
            ok = not future.cancelled() and future.exception() is None and future.result()
            if ok:
                self._passed[token] = None
                if len(self._passed) > MAX_REMEMBERED:
                    self._passed.popitem(last=False)
            then(ok)

        future.add_done_callback(checked)


@access_filter(BasicAuth)
def basic_auth(host: FilterHost, exchange: Exchange, flt: BasicAuth, done: Done) -> Verdict:
    signin = render(flt.signin, host, exchange) if flt.signin is not None else None
    refusal = Denial(401, ((b"www-authenticate", flt.challenge),), signin)
    header = exchange.header(b"authorization")
    if header is None or header[:6].lower() != b"basic ":
        return refusal
    try:
        credentials = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return refusal
    user, colon, password = credentials.partition(b":")
    stored = flt.by_name.get(user.decode("utf-8", "replace")) if colon else None
    if stored is None:
        return refusal
    if stored.scheme in FAST_SCHEMES:
        return None if matches(password, stored) else refusal
    checks = host.services.part(PasswordChecks)
    token = checks.token(header, stored)
    if checks.passed_before(token):
        return None
    checks.check_later(password, stored, token, lambda ok: done(None if ok else refusal))
    return PENDING
