"""What a host asks of its TLS listener beyond its certificate (nginx's server level)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerTls:
    """ssl-ciphers and ssl-prefer-server-ciphers of one host; None: the controller's.

    As nginx's ssl_ciphers and ssl_prefer_server_ciphers in the host's server
    block: the handshakes that name the host (SNI) use them. `ciphers` is an
    OpenSSL cipher list (TLS 1.2 and older; TLS 1.3 suites are OpenSSL's, as
    in nginx).
    """

    ciphers: str | None = None
    prefer_server_ciphers: bool | None = None

    def merged(self, older: ServerTls | None) -> ServerTls:
        """This host's settings under those an older Ingress of the host set first."""
        if older is None:
            return self
        return ServerTls(
            older.ciphers if older.ciphers is not None else self.ciphers,
            older.prefer_server_ciphers if older.prefer_server_ciphers is not None
            else self.prefer_server_ciphers,
        )
