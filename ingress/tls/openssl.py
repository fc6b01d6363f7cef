"""The few OpenSSL calls client-certificate verification (and a host's own cipher
preference) need and Python's `ssl` lacks.

nginx asks a client for its certificate only on the hosts that want one,
keeps the handshake going whatever the certificate's verification says,
and answers the request with 400 (or the error page) when it failed.
Python's `ssl` can do neither: it sets verification per context, not per
connection, and a failed verification ends the handshake. So, as nginx
does, a ClientHello callback (set before session resumption is decided)
turns on verification for the connection, with a callback that accepts
every certificate, a verify depth, and a session id context per policy
(a session verified for one CA is never resumed under another); after the
handshake OpenSSL's verdict is read with SSL_get_verify_result.

These calls reach OpenSSL through ctypes with the pointers CPython's
`_ssl` objects hold. Where the pointers sit is checked once at start
against what is known (a connection object's context field must be its
context); if that check fails, `load()` gives None and hosts that want
client certificates get none (their requests are refused, never let in).
"""

from __future__ import annotations

import ctypes
import logging
import ssl
from collections.abc import Callable

log = logging.getLogger(__name__)

SSL_VERIFY_PEER = 0x01
SSL_CLIENT_HELLO_SUCCESS = 1
_TLSEXT_SERVER_NAME = 0
_SID_CTX_MAX = 32

_VerifyCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_ClientHelloCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p,
                                        ctypes.POINTER(ctypes.c_int), ctypes.c_void_p)
ClientHello = Callable[[int], None]


def _accept_every_certificate(preverify_ok: int, store: int) -> int:
    # OpenSSL still records its verdict (SSL_get_verify_result); the request decides.
    return 1


_ACCEPT = _VerifyCallback(_accept_every_certificate)


def _pointer_at(obj: object, offset: int) -> int:
    return ctypes.c_void_p.from_address(id(obj) + offset).value or 0


class Native:
    """libssl through ctypes, with the layout of CPython's _ssl objects checked."""

    # After PyObject_HEAD: PySSLContext starts with SSL_CTX *ctx; PySSLSocket with
    # PyObject *Socket, SSL *ssl, PySSLContext *ctx.
    _HEAD = ctypes.sizeof(ctypes.c_ssize_t) + ctypes.sizeof(ctypes.c_void_p)
    _CTX_AT = _HEAD
    _SSL_AT = _HEAD + ctypes.sizeof(ctypes.c_void_p)
    _OWNER_CTX_AT = _HEAD + 2 * ctypes.sizeof(ctypes.c_void_p)

    def __init__(self) -> None:
        lib = ctypes.CDLL(ssl._ssl.__file__)  # type: ignore[attr-defined]
        self._set_verify = lib.SSL_set_verify
        self._set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VerifyCallback]
        self._set_verify.restype = None
        self._set_depth = lib.SSL_set_verify_depth
        self._set_depth.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self._set_depth.restype = None
        self._set_sid_ctx = lib.SSL_set_session_id_context
        self._set_sid_ctx.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint]
        self._set_sid_ctx.restype = ctypes.c_int
        self._verify_result = lib.SSL_get_verify_result
        self._verify_result.argtypes = [ctypes.c_void_p]
        self._verify_result.restype = ctypes.c_long
        self._error_string = lib.X509_verify_cert_error_string
        self._error_string.argtypes = [ctypes.c_long]
        self._error_string.restype = ctypes.c_char_p
        self._get_ctx = lib.SSL_get_SSL_CTX
        self._get_ctx.argtypes = [ctypes.c_void_p]
        self._get_ctx.restype = ctypes.c_void_p
        self._set_hello_cb = lib.SSL_CTX_set_client_hello_cb
        self._set_hello_cb.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self._set_hello_cb.restype = None
        self._get_ext = lib.SSL_client_hello_get0_ext
        self._get_ext.argtypes = [ctypes.c_void_p, ctypes.c_uint,
                                  ctypes.POINTER(ctypes.c_void_p),
                                  ctypes.POINTER(ctypes.c_size_t)]
        self._get_ext.restype = ctypes.c_int
        self._bio_new = lib.BIO_new_mem_buf
        self._bio_new.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self._bio_new.restype = ctypes.c_void_p
        self._bio_free = lib.BIO_free
        self._bio_free.argtypes = [ctypes.c_void_p]
        self._read_x509 = lib.PEM_read_bio_X509
        self._read_x509.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                    ctypes.c_void_p]
        self._read_x509.restype = ctypes.c_void_p
        self._x509_free = lib.X509_free
        self._x509_free.argtypes = [ctypes.c_void_p]
        self._add_client_ca = lib.SSL_CTX_add_client_CA
        self._add_client_ca.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._add_client_ca.restype = ctypes.c_int
        self._get_options = lib.SSL_get_options
        self._get_options.argtypes = [ctypes.c_void_p]
        self._get_options.restype = ctypes.c_uint64
        self._set_options = lib.SSL_set_options
        self._set_options.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        self._set_options.restype = ctypes.c_uint64
        self._clear_options = lib.SSL_clear_options
        self._clear_options.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        self._clear_options.restype = ctypes.c_uint64
        # Kept alive as long as a context may call them.
        self._hello_callbacks: dict[int, object] = {}
        self._check_layout()

    def _check_layout(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        probe = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
        inner = probe._sslobj  # type: ignore[attr-defined]
        if _pointer_at(inner, self._OWNER_CTX_AT) != id(context):
            raise RuntimeError("unexpected layout of _ssl._SSLSocket")
        ssl_pointer = _pointer_at(inner, self._SSL_AT)
        if not ssl_pointer or self._get_ctx(ssl_pointer) != _pointer_at(context, self._CTX_AT):
            raise RuntimeError("unexpected layout of _ssl._SSLContext")

    def ssl_pointer(self, ssl_object: ssl.SSLObject) -> int:
        """The SSL* of a connection (checked against its context)."""
        inner = ssl_object._sslobj  # type: ignore[attr-defined]
        if _pointer_at(inner, self._OWNER_CTX_AT) != id(ssl_object.context):
            raise RuntimeError("unexpected layout of _ssl._SSLSocket")
        return _pointer_at(inner, self._SSL_AT)

    def on_client_hello(self, context: ssl.SSLContext, callback: ClientHello | None) -> None:
        """Call `callback(SSL*)` on every ClientHello `context` receives (None: stop)."""
        ctx = _pointer_at(context, self._CTX_AT)
        if callback is None:
            self._set_hello_cb(ctx, None, None)
            self._hello_callbacks.pop(id(context), None)
            return

        def hello(ssl_pointer: int, alert: object, arg: object) -> int:
            try:
                callback(ssl_pointer)
            except Exception:  # never let an exception unwind into OpenSSL
                log.exception("client hello callback failed")
            return SSL_CLIENT_HELLO_SUCCESS

        c_hello = _ClientHelloCallback(hello)
        self._hello_callbacks[id(context)] = c_hello
        self._set_hello_cb(ctx, ctypes.cast(c_hello, ctypes.c_void_p), None)

    def server_name(self, ssl_pointer: int) -> str | None:
        """The host name of the ClientHello's SNI extension (in the ClientHello callback)."""
        data = ctypes.c_void_p()
        length = ctypes.c_size_t()
        if not self._get_ext(ssl_pointer, _TLSEXT_SERVER_NAME, ctypes.byref(data),
                             ctypes.byref(length)) or not data.value:
            return None
        raw = ctypes.string_at(data.value, length.value)
        # ServerNameList: length(2), then entries of type(1) length(2) name.
        if len(raw) < 5 or raw[2] != 0:
            return None
        size = int.from_bytes(raw[3:5], "big")
        return raw[5:5 + size].decode("ascii", "replace").lower().rstrip(".")

    def request_certificate(self, ssl_pointer: int, depth: int, session_context: bytes) -> None:
        """Ask this connection's client for a certificate; keep going whatever it is."""
        self._set_verify(ssl_pointer, SSL_VERIFY_PEER, _ACCEPT)
        self._set_depth(ssl_pointer, depth)
        context = session_context[:_SID_CTX_MAX]
        self._set_sid_ctx(ssl_pointer, context, len(context))

    def name_client_cas(self, context: ssl.SSLContext, ca_pem: bytes) -> None:
        """Name the CAs of `ca_pem` in the certificate request, as nginx does: browsers
        offer their users only the certificates those CAs issued."""
        ctx = _pointer_at(context, self._CTX_AT)
        bio = self._bio_new(ca_pem, len(ca_pem))
        if not bio:
            return
        try:
            while True:
                cert = self._read_x509(bio, None, None, None)
                if not cert:
                    break
                self._add_client_ca(ctx, cert)  # copies the name
                self._x509_free(cert)
        finally:
            self._bio_free(bio)

    def adopt_options(self, ssl_pointer: int, options: int) -> None:
        """Give a connection exactly `options` (those of the context the SNI callback
        switched it to: OpenSSL keeps the first context's)."""
        self._clear_options(ssl_pointer, self._get_options(ssl_pointer) & ~options)
        self._set_options(ssl_pointer, options)

    def verify_result(self, ssl_pointer: int) -> tuple[int, str]:
        """OpenSSL's verdict on the peer certificate: (0, 'ok') or (code, reason)."""
        code = int(self._verify_result(ssl_pointer))
        text = self._error_string(code)
        return code, text.decode() if text else str(code)


def load() -> Native | None:
    try:
        return Native()
    except (OSError, AttributeError, RuntimeError) as error:
        log.error("client certificates cannot be requested on this Python/OpenSSL (%s): "
                  "hosts with auth-tls-secret refuse every request", error)
        return None
