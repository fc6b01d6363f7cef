"""HTTP/2 request fields as Portico checks them (h2's own checks are off), and gRPC details."""

from __future__ import annotations

import pytest

from ingress.proxy.h2 import grpc
from ingress.proxy.h2.fields import from_pod
from ingress.proxy.h2.request import read_request

GET = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a.test"),
       (b":path", b"/x?y=1")]


def test_a_request_becomes_http11_fields() -> None:
    request = read_request([*GET, (b"cookie", b"a=1"), (b"accept", b"*/*"),
                            (b"cookie", b"b=2"), (b"x-request-id", b"abc")], ended=True)
    assert request is not None
    assert (request.method, request.path, request.authority) == (b"GET", b"/x?y=1", b"a.test")
    fields = {lname: value for _, lname, value in request.fields}
    assert fields[b"cookie"] == b"a=1; b=2"  # crumbs joined (RFC 9113 §8.2.3)
    assert fields[b"host"] == b"a.test"
    assert b"transfer-encoding" not in fields
    assert request.request_id == b"abc" and request.content_length == -1


def test_a_body_of_unknown_length_is_chunked_for_the_pod() -> None:
    post = [(b":method", b"POST"), *GET[1:]]
    request = read_request(post, ended=False)
    assert request is not None
    assert (b"transfer-encoding", b"transfer-encoding", b"chunked") in request.fields
    sized = read_request([*post, (b"content-length", b"5")], ended=False)
    assert sized is not None and sized.content_length == 5
    assert all(lname != b"transfer-encoding" for _, lname, _ in sized.fields)


@pytest.mark.parametrize(
    "headers",
    [
        [*GET, (b"Accept", b"*/*")],  # upper case
        [*GET, (b"x-a", b"1\r\nx-b: 2")],  # a line break would split the HTTP/1.1 head
        [*GET, (b"x-a", b"nul\x00")],
        [*GET, (b"x-a", b" padded")],
        [*GET, (b"connection", b"keep-alive")],  # connection-specific
        [*GET, (b"transfer-encoding", b"chunked")],
        [*GET, (b"te", b"gzip")],  # only "trailers"
        [*GET, (b"content-length", b"1x")],
        [*GET, (b"content-length", b"1"), (b"content-length", b"1")],
        [(b"accept", b"*/*"), *GET],  # pseudo-headers first
        [*GET, (b":path", b"/again")],  # once each
        [*GET, (b":status", b"200")],  # a response's
        GET[1:],  # no :method
        [(b":method", b"GET"), (b":authority", b"a.test"), (b":path", b"/")],  # no :scheme
        [(b":method", b"CONNECT"), *GET[1:]],
        [*GET[:3], (b":path", b"http://other.test/x")],  # absolute: would skip :authority
        [*GET[:3], (b":path", b"*")],
    ],
    ids=["upper-case", "crlf", "nul", "whitespace", "connection", "transfer-encoding", "te",
         "length-not-digits", "two-lengths", "pseudo-after", "pseudo-twice", "status",
         "no-method", "no-scheme", "connect", "absolute-path", "asterisk"],
)
def test_malformed_requests_are_refused(headers: list[tuple[bytes, bytes]]) -> None:
    assert read_request(headers, ended=True) is None


def test_fields_with_underscores_are_dropped_as_for_http11() -> None:
    request = read_request([*GET, (b"x_forwarded_for", b"10.0.0.1"), (b"x-ok", b"1")],
                           ended=True)
    assert request is not None
    assert [lname for _, lname, _ in request.fields] == [b"x-ok", b"host"]


def test_te_trailers_passes() -> None:
    request = read_request([*GET, (b"te", b"trailers"), (b"content-type", b"application/grpc")],
                           ended=True)
    assert request is not None and request.grpc


def test_a_pods_fields_are_filtered_for_the_client() -> None:
    fields = [(b":status", b"200"), (b"content-type", b"application/grpc"),
              (b"connection", b"close"), (b"Bad", b"x"), (b"x-ok", b"bad\r\nvalue"),
              (b"grpc-status", b"0")]
    assert from_pod(fields) == [(b":status", b"200"), (b"content-type", b"application/grpc"),
                                (b"grpc-status", b"0")]


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [(b"application/grpc", True), (b"application/grpc+proto", True),
     (b"application/grpc;charset=utf-8", True), (b"application/grpc-web", False),
     (b"application/json", False)],
)
def test_grpc_content_types(content_type: bytes, expected: bool) -> None:
    assert grpc.is_grpc(content_type) is expected


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(b"10S", 10.0), (b"250m", 0.25), (b"1H", 3600.0), (b"5u", 5e-6), (b"123456789S", None),
     (b"10", None), (b"xS", None), (b"10s", None)],
)
def test_grpc_timeout_values(value: bytes, seconds: float | None) -> None:
    assert grpc.parse_timeout(value) == (None if seconds is None else pytest.approx(seconds))


def test_grpc_timeouts_are_forwarded_in_milliseconds_never_shorter() -> None:
    assert grpc.format_timeout(3.0) == b"3000m"
    assert grpc.format_timeout(0.0001) == b"1m"
    assert grpc.parse_timeout(grpc.format_timeout(2.5001)) >= 2.5001  # type: ignore[operator]


def test_portico_answers_map_to_grpc_statuses() -> None:
    headers = dict(grpc.error_headers(404))
    assert headers[b":status"] == b"200" and headers[b"grpc-status"] == b"12"
    assert headers[b"grpc-message"] == b"portico: 404 Not Found"
    assert dict(grpc.trailers(504))[b"grpc-status"] == b"4"
    assert grpc.status_for(429) == grpc.RESOURCE_EXHAUSTED
