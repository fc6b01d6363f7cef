"""Load a PEM certificate chain and key into an SSLContext without touching disk.

`ssl.SSLContext.load_cert_chain` only takes file paths. Private keys must not
be written to a filesystem, so each PEM goes into an anonymous memory file
(`memfd_create`) that is opened by its `/proc/self/fd` path and closed right
after OpenSSL has read it.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def _memory_file(name: str, data: bytes) -> Iterator[str]:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def load_pem_chain(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """Raises ssl.SSLError when the PEM is unreadable or the key does not match."""
    with _memory_file("cert", cert_pem) as cert_path, _memory_file("key", key_pem) as key_path:
        context.load_cert_chain(cert_path, key_path)
