"""Client-side TLS contexts the tests share."""

from __future__ import annotations

import ssl

import trustme


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """Verifies certificates (and host names) issued by the test's own CA."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def unverified() -> ssl.SSLContext:
    """Accepts any certificate: for looking at self-signed or default ones."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
