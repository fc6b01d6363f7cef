"""What a request names: its host and the canonical path routes are matched on.

nginx normalises the path before it chooses a location: it decodes every
`%XX` (an encoded slash or dot included), merges repeated slashes and
resolves `.` and `..` segments, and answers 400 to a path that climbs above
the root or decodes to a NUL byte. Portico matches routes, allow-lists and
auth on that same canonical form, so `//admin`, `/x/../admin`, `/%61dmin` and
`/x/..%2fadmin` all reach the `/admin` route, never a shorter prefix beside
it. The request target itself is forwarded unchanged (as nginx's
`proxy_pass` without a URI part does); only matching uses the canonical form.

The host is validated as nginx does (no spaces, slashes, control bytes or
empty labels) and reduced to the name routes are keyed by: lower case,
without the port and without a trailing dot, so that `admin.example.com.`
cannot slip past the rules of `admin.example.com`.
"""

from __future__ import annotations

from urllib.parse import quote


class BadTarget(ValueError):
    """The request target or Host cannot be routed: answered with 400."""


# RFC 3986 reg-name, IP-literal and port characters; everything else in a Host is refused.
_HOST_CHARS = (
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%:[]"
)
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def canonical_path(raw: bytes) -> str:
    """The path of an origin-form target (`/...`, query removed) as routes see it.

    Ordinary paths (ASCII, no `%`, `//` or `/.`) are already canonical and
    cost a decode and three substring scans (of the text: `bytes in bytes`
    is several times slower in CPython 3.11); the rest are normalised.
    """
    path = raw.decode("latin-1")
    if path.isascii() and "%" not in path and "//" not in path and "/." not in path:
        return path
    return _normalise(raw)


# Characters a path carries as they are; writing a canonical path back into a
# target escapes the rest, '%' included (nginx's NGX_ESCAPE_URI): it is decoded text.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def path_target(path: str) -> str:
    """A canonical (decoded) path written back as the path of a request target."""
    return quote(path.encode("utf-8", "surrogateescape"), safe=_PATH_SAFE)


def _normalise(raw: bytes) -> str:
    if b"%" in raw:
        raw = _percent_decode(raw)
    # Invalid UTF-8 becomes lone surrogates, which no route (text from YAML) contains.
    parts = raw.decode("utf-8", "surrogateescape").split("/")
    segments: list[str] = []
    for part in parts[1:]:
        if part == "..":
            if not segments:
                raise BadTarget("the path climbs above the root")
            segments.pop()
        elif part and part != ".":
            segments.append(part)
    path = "/" + "/".join(segments)
    # `/a/b/`, `/a/b/.` and `/a/b/c/..` all name the directory `/a/b/`.
    if segments and parts[-1] in ("", ".", ".."):
        path += "/"
    return path


def _percent_decode(raw: bytes) -> bytes:
    """Every `%XX` decoded once (a decoded `%` is not decoded again), as nginx does."""
    pieces = raw.split(b"%")
    out = bytearray(pieces[0])
    for piece in pieces[1:]:
        if len(piece) < 2 or piece[0] not in _HEX_DIGITS or piece[1] not in _HEX_DIGITS:
            raise BadTarget("a '%' is not followed by two hex digits")
        byte = int(piece[:2], 16)
        if byte == 0:
            raise BadTarget("the path contains an encoded NUL byte")
        out.append(byte)
        out += piece[2:]
    return bytes(out)


def host_name(value: bytes) -> str:
    """The routing name of a Host header or absolute-form authority (`host[:port]`)."""
    if not value or value.translate(None, _HOST_CHARS) or b".." in value or value[0] == 46:
        raise BadTarget("invalid host")
    host = value.decode("ascii").lower()
    if host[0] == "[":
        end = host.find("]")
        if end < 0:
            raise BadTarget("invalid host")
        port = host[end + 1 :]
        host = host[: end + 1]
        if port and port[0] != ":":
            raise BadTarget("invalid host")
        port = port[1:]
    else:
        host, _, port = host.partition(":")
        if "[" in host or "]" in host:
            raise BadTarget("invalid host")
    if port and not port.isdigit():
        raise BadTarget("invalid port")
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise BadTarget("invalid host")
    return host


def split_absolute(url: bytes) -> tuple[bytes, bytes]:
    """(authority, origin-form target) of an absolute-form target `http://host/path?query`."""
    scheme_end = url.find(b"://")
    if scheme_end < 0 or url[:scheme_end].lower() not in (b"http", b"https"):
        raise BadTarget("the request target is neither a path nor an http(s) URL")
    rest = url[scheme_end + 3 :]
    end = len(rest)
    for delimiter in (b"/", b"?"):
        at = rest.find(delimiter)
        if 0 <= at < end:
            end = at
    authority, origin = rest[:end], rest[end:]
    if b"@" in authority:
        raise BadTarget("user information in the request target")
    if not origin.startswith(b"/"):
        origin = b"/" + origin
    return authority, origin
