"""Access-log lines in both formats, and the writer that never blocks the loop."""

from __future__ import annotations

import asyncio
import json
import os

from ingress.observability.access_log import (
    AccessLogWriter,
    AccessRecord,
    json_line,
    nginx_line,
)
from ingress.observability.stats import ProxyStats

NOW = 1700000000.25  # 2023-11-14T22:13:20.250Z

RECORD = AccessRecord(
    time=NOW, request_id="0123456789abcdef0123456789abcdef", remote_addr="10.0.0.9",
    method="GET", host="hello.local", path="/a?b=1", protocol="HTTP/1.1", status=200,
    bytes_sent=612, body_bytes_sent=512, request_length=87, request_time=0.0123456,
    upstream_addr="127.0.0.2:8081", upstream_status=200, upstream_response_time=0.0101,
    upstream_response_length=512, upstream_name="default-hello-80",
    alternative_upstream_name="", namespace="default",
    ingress="hello", service="hello", user_agent="curl/8.5.0", referer="",
    retries=0, tls_version="TLSv1.3", sni="hello.local",
)
# Portico answered by itself: no upstream.
OWN_ANSWER = RECORD._replace(status=404, upstream_addr="", upstream_status=-1,
                             upstream_response_time=-1.0, upstream_response_length=-1,
                             upstream_name="upstream-default-backend", namespace="",
                             ingress="", service="", tls_version="", sni="")


def test_json_line_has_the_fixed_fields() -> None:
    line = json_line(RECORD)
    assert line.endswith("}\n") and line.count("\n") == 1
    assert json.loads(line) == {
        "time": "2023-11-14T22:13:20.250Z", "request_id": "0123456789abcdef0123456789abcdef",
        "remote_addr": "10.0.0.9", "method": "GET", "host": "hello.local", "path": "/a?b=1",
        "protocol": "HTTP/1.1", "status": 200, "bytes_sent": 612, "request_length": 87,
        "request_time": 0.012, "upstream_addr": "127.0.0.2:8081", "upstream_status": 200,
        "upstream_response_time": 0.01, "namespace": "default", "ingress": "hello",
        "service": "hello", "user_agent": "curl/8.5.0", "referer": "", "retries": 0,
        "tls_version": "TLSv1.3", "sni": "hello.local",
    }


def test_json_line_without_upstream_and_with_hostile_text() -> None:
    hostile = OWN_ANSWER._replace(path='/x"}\n{"forged":1', user_agent="\x00\x1b[31m\xff")
    line = json_line(hostile)
    assert line.count("\n") == 1
    parsed = json.loads(line)
    assert parsed["path"] == '/x"}\n{"forged":1'
    assert parsed["user_agent"] == "\x00\x1b[31m\xff"
    assert (parsed["upstream_status"], parsed["upstream_response_time"]) == (None, None)


def test_nginx_line_is_ingress_nginx_log_format_upstream() -> None:
    assert nginx_line(RECORD) == (
        '10.0.0.9 - - [14/Nov/2023:22:13:20 +0000] "GET /a?b=1 HTTP/1.1" 200 512 "-" '
        '"curl/8.5.0" 87 0.012 [default-hello-80] [] 127.0.0.2:8081 512 0.010 200 '
        "0123456789abcdef0123456789abcdef\n")
    assert nginx_line(OWN_ANSWER) == (
        '10.0.0.9 - - [14/Nov/2023:22:13:20 +0000] "GET /a?b=1 HTTP/1.1" 404 512 "-" '
        '"curl/8.5.0" 87 0.012 [upstream-default-backend] [] - - - - '
        "0123456789abcdef0123456789abcdef\n")
    # A canary answered: $proxy_alternative_upstream_name names it.
    canary = RECORD._replace(alternative_upstream_name="default-hello-canary-80")
    assert " [default-hello-80] [default-hello-canary-80] " in nginx_line(canary)


def test_nginx_line_escapes_as_nginx_does() -> None:
    line = nginx_line(RECORD._replace(path='/x" 200\n\\', user_agent="é"))
    assert '"GET /x\\x22 200\\x0A\\x5C HTTP/1.1"' in line
    assert '"\\xE9"' in line
    assert line.count("\n") == 1


async def test_writer_batches_lines_to_the_output() -> None:
    read_end, write_end = os.pipe()
    stats = ProxyStats()
    writer = AccessLogWriter(asyncio.get_running_loop(), stats, fd=write_end)
    for i in range(3):
        writer.write(f"line {i}\n")
    await asyncio.sleep(0.05)
    writer.close()
    os.close(write_end)
    assert os.read(read_end, 1000) == b"line 0\nline 1\nline 2\n"
    os.close(read_end)
    assert (stats.access_log_lines, stats.access_log_dropped) == (3, 0)


async def test_writer_drops_and_counts_when_the_output_stalls() -> None:
    """Nobody reads the pipe: the writer thread blocks, the loop does not."""
    read_end, write_end = os.pipe()
    stats = ProxyStats()
    writer = AccessLogWriter(asyncio.get_running_loop(), stats, fd=write_end, limit=256 * 1024)
    line = "x" * 99 + "\n"
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(5000):  # 500 kB: more than the pipe (64 kB) and the limit together
        writer.write(line)
        writer.flush()
    assert loop.time() - started < 1.0
    assert stats.access_log_dropped > 0
    assert stats.access_log_lines + stats.access_log_dropped == 5000
    assert stats.access_log_lines * len(line) <= 256 * 1024 + 64 * 1024 + len(line)
    os.close(read_end)  # the blocked write fails; the thread ends on close()
    writer.close()
    os.close(write_end)
