"""mirror-target, mirror-request-body, mirror-host: a pure parser, and where copies go.

What ingress-nginx does (annotations/mirror/main.go, template.go's
buildMirrorLocations, test/e2e/annotations/mirror.go): a mirror location
with `proxy_set_header Host <mirror-host or the target's host name>` and
`proxy_pass <mirror-target>`, and `mirror_request_body on` unless "off".
"""

from __future__ import annotations

import pytest
from build_objects import spec_of

from ingress.build.annotations import parse_annotations
from ingress.model import ObjectRef
from ingress.model.filters.extauth import Template
from ingress.model.filters.mirror import Mirror
from ingress.proxy.filters.mirror import _url_destination
from ingress.proxy.subrequests import Service

P = "nginx.ingress.kubernetes.io/"
OBJ = ObjectRef("Ingress", "default", "a")


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({"mirror_target": "http://localhost/mirror"},
         Mirror(url=Template(("http://localhost/mirror",)))),
        ({"mirror_target": "https://test.env.com$request_uri"},
         Mirror(url=Template(("https://test.env.com", "request_uri", "")))),
        ({"mirror_target": "http://localhost/mirror", "mirror_request_body": "off"},
         Mirror(url=Template(("http://localhost/mirror",)), body=False)),
        ({"mirror_target": "https://1.2.3.4$request_uri", "mirror_host": "test.env.com"},
         Mirror(url=Template(("https://1.2.3.4", "request_uri", "")), host="test.env.com")),
        ({"mirror_request_body": "off"}, None),  # nothing to mirror to
        ({"mirror_host": "test.env.com"}, None),
    ],
)
def test_values(annotations: dict[str, str], expected: Mirror | None) -> None:
    spec = spec_of(**annotations)
    assert spec.problems == []
    assert spec.filters == ([expected] if expected else [])


@pytest.mark.parametrize(("name", "value"), [
    ("mirror-target", "ftp://x/y"),
    ("mirror-target", "/relative"),
    ("mirror-target", "http://x$unknown_variable"),
    ("mirror-request-body", "no"),
    ("mirror-host", "bad host"),
])
def test_bad_values_are_reported(name: str, value: str) -> None:
    annotations = {P + "mirror-target": "http://m/", P + name: value}
    spec = parse_annotations(annotations, OBJ)
    assert [p.field for p in spec.problems] == [f'metadata.annotations["{P}{name}"]']


class Request:
    """What `_url_destination` reads of an exchange."""

    def __init__(self, url: bytes) -> None:
        self.url = url


@pytest.mark.parametrize(
    ("written", "rendered", "url", "expected"),
    [
        # No variables: the path replaces the location's, the arguments follow (proxy_pass).
        ("http://localhost/mirror", None, b"/a/b?x=1",
         (Service(False, "localhost", 80), b"/mirror?x=1", b"localhost")),
        ("http://m:8080/copy?from=portico", None, b"/a?x=1",
         (Service(False, "m", 8080), b"/copy?from=portico&x=1", b"m")),
        # Without a path: the request's own target.
        ("https://m.test", None, b"/a?x=1", (Service(True, "m.test", 443), b"/a?x=1", b"m.test")),
        # With variables: the rendered URL is the whole target.
        ("https://test.env.com$request_uri", "https://test.env.com/a?x=1", b"/a?x=1",
         (Service(True, "test.env.com", 443), b"/a?x=1", b"test.env.com")),
    ],
)
def test_where_a_copy_goes(written: str, rendered: str | None, url: bytes,
                           expected: tuple[Service, bytes, bytes]) -> None:
    template = spec_of(mirror_target=written).filters[0]
    assert isinstance(template, Mirror)
    found = _url_destination(rendered or written, template, Request(url))  # type: ignore[arg-type]
    assert found == expected
