"""The canonical path and host routes are matched on (ingress/proxy/target.py).

The cases restate nginx's `ngx_http_parse_complex_uri` (merge_slashes on):
every `%XX` decoded once, `.`/`..` resolved, repeated slashes merged, 400 for
climbing above the root and for NUL. The property shows that no spelling of
a path reaches a route other than the one its canonical form reaches.
"""

from __future__ import annotations

import pytest
from build_objects import ingress, path, rule, run, service
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ingress.proxy.target import (
    BadTarget,
    _normalise,
    canonical_path,
    host_name,
    split_absolute,
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/", "/"),
        ("/admin/x", "/admin/x"),
        ("//admin/x", "/admin/x"),
        ("/x/../admin/x", "/admin/x"),
        ("/./admin/x", "/admin/x"),
        ("/%61dmin/x", "/admin/x"),
        ("/admin%2fx", "/admin/x"),
        ("/admin%2Fx", "/admin/x"),
        ("/x/..%2fadmin/x", "/admin/x"),
        ("/x/%2e%2e/admin/x", "/admin/x"),
        ("/x/.%2E/admin", "/admin"),
        ("/admin/.", "/admin/"),
        ("/admin/x/..", "/admin/"),
        ("/admin/x/../", "/admin/"),
        ("/a/..", "/"),
        ("/a//b///c/", "/a/b/c/"),
        ("/%25", "/%"),  # decoded once: `%25` is a literal percent, not an escape
        ("/%2525", "/%25"),
        ("/caf%C3%A9", "/café"),
        ("/a%20b", "/a b"),
        ("/.well-known/x", "/.well-known/x"),
        ("/..foo/..bar", "/..foo/..bar"),
    ],
)
def test_canonical_path(raw: str, canonical: str) -> None:
    assert canonical_path(raw.encode()) == canonical


@pytest.mark.parametrize(
    "raw",
    ["/..", "/../admin", "/a/../..", "/%2e%2e/x", "/a/..%2f..", "/%00", "/a%00b", "/%", "/%4",
     "/%zz", "/%+1", "/% 1"],
)
def test_paths_that_get_400(raw: str) -> None:
    with pytest.raises(BadTarget):
        canonical_path(raw.encode())


@settings(max_examples=300, derandomize=True)
@given(st.text(alphabet="/.a%", max_size=12).map(lambda text: "/" + text))
def test_the_fast_check_skips_only_paths_normalising_would_not_change(raw: str) -> None:
    try:
        expected = _normalise(raw.encode())
    except BadTarget:
        expected = None
    if "%" not in raw and "//" not in raw and "/." not in raw:
        assert canonical_path(raw.encode()) == expected == raw


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (b"example.com", "example.com"),
        (b"Example.COM:8080", "example.com"),
        (b"example.com.", "example.com"),
        (b"example.com.:80", "example.com"),
        (b"[::1]:8080", "[::1]"),
        (b"[2001:DB8::1]", "[2001:db8::1]"),
        (b"10.0.0.1:", "10.0.0.1"),
        (b"under_score.example", "under_score.example"),
    ],
)
def test_host_name(value: bytes, name: str) -> None:
    assert host_name(value) == name


@pytest.mark.parametrize(
    "value",
    [b"", b"a b", b"a/b", b"a\\b", b"a..b", b".a", b"a:b", b"a:80:80", b"[::1", b"[::1]x",
     b"a[b]", b"a]", b"a\tb", b"\xc3\xa9.com", b"a@b", b"a\"b", b":80", b"."],
)
def test_invalid_hosts(value: bytes) -> None:
    with pytest.raises(BadTarget):
        host_name(value)


@pytest.mark.parametrize(
    ("url", "authority", "origin"),
    [
        (b"http://a.example/x?y", b"a.example", b"/x?y"),
        (b"HTTPS://a.example:8443", b"a.example:8443", b"/"),
        (b"http://a.example?q=1", b"a.example", b"/?q=1"),
        (b"http://a.example//x", b"a.example", b"//x"),
    ],
)
def test_absolute_form(url: bytes, authority: bytes, origin: bytes) -> None:
    assert split_absolute(url) == (authority, origin)


@pytest.mark.parametrize("url", [b"*", b"a.example:443", b"ftp://a/x", b"http://u@a/x", b"x"])
def test_targets_that_are_neither_paths_nor_http_urls(url: bytes) -> None:
    with pytest.raises(BadTarget):
        split_absolute(url)


# --- property: every spelling of a path routes like its canonical form

SEGMENT = st.sampled_from(["admin", "x", "api", "v1", "a%b", "é", "A", "a.b", "..a", "~"])
# Separators that all mean "one slash"; the first of a path must start with a literal '/'.
SEPARATORS = ["/", "//", "/./", "/%2e/", "/%2E/", "/junk/../", "/junk/%2e%2e/", "/j/.%2E/",
              "/%2f", "%2F", "%2f/", "/.//"]
LEADING = [s for s in SEPARATORS if s.startswith("/")]
# Endings that all mean "a trailing slash".
TRAILING = ["/", "//", "/.", "/./", "/junk/..", "/junk/%2e%2e", "%2F"]
_UNRESERVED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")


@st.composite
def spelled(draw: st.DrawFn, text: str) -> str:
    """`text` (one segment) with each character literal or percent-encoded (either case)."""
    out = []
    for char in text:
        literal = char in _UNRESERVED and draw(st.booleans())
        if literal:
            out.append(char)
            continue
        hex_case = draw(st.sampled_from([str.upper, str.lower]))
        out.extend(hex_case(f"%{byte:02x}") for byte in char.encode())
    return "".join(out)


@st.composite
def path_and_spelling(draw: st.DrawFn) -> tuple[str, str]:
    segments = draw(st.lists(SEGMENT, max_size=4))
    trailing = bool(segments) and draw(st.booleans())
    canonical = "/" + "/".join(segments) + ("/" if trailing else "")
    spelling = draw(st.sampled_from(LEADING)) if segments else ""
    for i, segment in enumerate(segments):
        if i:
            spelling += draw(st.sampled_from(SEPARATORS))
        spelling += draw(spelled(segment))
    if trailing or not segments:
        spelling += draw(st.sampled_from(TRAILING if segments else LEADING))
    return canonical, spelling


TABLE = run(
    ingress("public", [rule("site.test", path("/"))]),
    ingress("admin", [rule("site.test", path("/admin", service="admin"),
                           path("/admin/x", path_type="Exact", service="exact"),
                           path("/api/v1", service="api"), path("/é", service="accent"))]),
    service("web"), service("admin"), service("exact"), service("api"), service("accent"),
).table


@settings(max_examples=250, derandomize=True)
@given(path_and_spelling())
@example(("/admin/x", "//admin/x"))
@example(("/admin/x", "/x/../admin/x"))
@example(("/admin/x", "/./admin/x"))
@example(("/admin/x", "/%61dmin/x"))
@example(("/admin/x", "/admin%2fx"))
@example(("/admin/x", "/x/..%2fadmin/x"))
def test_no_spelling_routes_elsewhere_than_its_canonical_form(case: tuple[str, str]) -> None:
    canonical, spelling = case
    assert canonical_path(spelling.encode()) == canonical
    assert TABLE.route("site.test", canonical_path(spelling.encode())) is TABLE.route(
        "site.test", canonical
    )
