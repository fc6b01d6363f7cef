"""`portico loadtest`'s flags: apart from the run, so that every other command's process
(the controller's above all) does not import the load generator to build its parser."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Load-test an HTTP(S) URL: open loop at a fixed rate or in ramps (latency
counted from when each request was due, so a stalled server cannot hide),
or closed loop over N connections. Reports HDR percentiles, a per-second
series, errors by kind, the ingress's reloads (--admin) and an SLO verdict."""
EPILOG = """\
examples:
  portico loadtest http://127.0.0.1:8080/ --host hello.local --rate 1000 --duration 30s
  portico loadtest URL --stages 30s:500,60s:5000,30s:0 --slo 'p99<50ms,errors<0.1%'
  portico loadtest URL --connections 50 --duration 10s            # closed loop
  portico loadtest https://HOST/ --http2 --connections 50 --streams 10   # 5 h2 connections
  portico loadtest URL --rate 500 --admin http://127.0.0.1:10254 --churn examples/demo
  portico loadtest --compare run-a run-b --out a-vs-b

exit status: 0 passed; 1 an --slo term failed or nothing was answered;
2 the run could not be made (bad flags, nothing answering after --wait);
3 the client fell behind its schedule (its numbers include its own delay)."""
DEFAULT_DURATION = 10.0
DEFAULT_POOL = 64  # open loop: keep-alive connections the schedule is spread over
DEFAULT_LAG_LIMIT_MS = 20.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", nargs="?", help="http(s)://address[:port]/path to load")
    mode = parser.add_argument_group("load (choose --rate, --stages or --connections)")
    mode.add_argument("--rate", type=float,
                      help="open loop: this many requests per second, whatever the answers")
    mode.add_argument("--stages",
                      help="open-loop ramps, as k6 has them: DURATION:RATE,... "
                           "e.g. 30s:500,60s:5000,30s:0")
    mode.add_argument("--connections", type=int,
                      help=f"alone: closed loop over N connections (each sends when answered); "
                           f"with --rate/--stages: the connection pool (default {DEFAULT_POOL})")
    mode.add_argument("--duration", help=f"run length, e.g. 30s, 2m (default {DEFAULT_DURATION:g}s;"
                      " --stages sets its own)")
    mode.add_argument("--processes", type=int, default=1,
                      help="spread the load over N client processes (one core each)")
    req = parser.add_argument_group("the request")
    req.add_argument("--host", help="Host header and TLS server name (default: the URL's)")
    req.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                     help="an extra request header (repeatable)")
    req.add_argument("--method", default="GET")
    req.add_argument("--body-file", type=Path, help="send this file as the request body")
    req.add_argument("--http2", action="store_true",
                     help="HTTP/2: ALPN h2 over https, prior knowledge (h2c) over http; "
                          "--connections counts streams in flight")
    req.add_argument("--streams", type=int, default=10,
                     help="with --http2: streams per connection (default 10, as h2load -m)")
    req.add_argument("--insecure", action="store_true",
                     help="accept any TLS certificate (self-signed test deployments)")
    req.add_argument("--timeout", default="10s",
                     help="a request unanswered this long counts as a timeout (default 10s)")
    req.add_argument("--wait", default="0s",
                     help="first wait up to this long for URL to answer below 400 "
                          "(a route still being configured)")
    ing = parser.add_argument_group("the ingress under test")
    ing.add_argument("--admin", metavar="URL",
                     help="Portico's (or ingress-nginx's) admin port, e.g. http://127.0.0.1:10254:"
                          " its reloads are marked on the latency plot")
    ing.add_argument("--churn", type=Path, metavar="DIR",
                     help="the manifests directory Portico serves: add and remove an Ingress "
                          "there during the run, every --churn-every")
    ing.add_argument("--churn-every", default="5s", help="(default 5s)")
    out = parser.add_argument_group("verdict and report")
    out.add_argument("--slo", help="thresholds, e.g. 'p99<50ms,errors<0.1%%': "
                                   "exit status 1 when one fails")
    out.add_argument("--max-lag", type=float, default=DEFAULT_LAG_LIMIT_MS, metavar="MS",
                     help="the client fell behind (exit 3) if it sent a request later than this "
                          f"(default {DEFAULT_LAG_LIMIT_MS:g} ms)")
    out.add_argument("--out", type=Path,
                     help="report directory (default ./loadtest-YYYYmmdd-HHMMSS)")
    out.add_argument("--no-plots", action="store_true", help="report.json and README.md only")
    out.add_argument("--compare", nargs="+", type=Path, metavar="DIR",
                     help="overlay earlier runs' reports (one DIR: redraw its plots)")
