"""What a well-formed HTTP/2 field is (RFC 9113 §8.2), checked here rather than by h2.

h2 can check the headers it receives, as a chain of generators per header
that costs more than everything else a request does; Portico's connections
turn that off and check each field once with these (C-level) patterns.
"""

from __future__ import annotations

import re

from h2.config import H2Configuration

Field = tuple[bytes, bytes]


def codec_config(client_side: bool) -> H2Configuration:
    """h2's settings for Portico's connections: fields as bytes, h2's own checks off
    (received fields are checked here, sent ones are built from checked parts)."""
    return H2Configuration(
        client_side=client_side,
        header_encoding=None,
        validate_inbound_headers=False,
        normalize_inbound_headers=False,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
    )

name_ok = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+").fullmatch
value_bad = re.compile(rb"[\x00\r\n]|^[ \t]|[ \t]$").search
CONNECTION_SPECIFIC = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade")
)


def from_pod(fields: list[Field]) -> list[Field]:
    """A pod's response headers or trailers as they may go on to the client: malformed
    fields and connection-specific ones are dropped (nginx drops what it cannot parse)."""
    kept: list[Field] = []
    for name, value in fields:
        if value_bad(value) is not None or name in CONNECTION_SPECIFIC:
            continue
        if name_ok(name) is not None or (name == b":status" and not kept):
            kept.append((name, value))
    return kept
