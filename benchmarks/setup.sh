#!/bin/sh
# Tools the benchmark rig drives: nginx (upstream and comparison proxy),
# HAProxy, wrk, h2load (nghttp2-client); matplotlib for the plots. Idempotent; `make bench` runs it.
set -eu
cd "$(dirname "$0")/.."
missing=""
for tool in nginx haproxy wrk h2load taskset; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "installing:$missing" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light haproxy wrk nghttp2-client util-linux
fi
PY="${PYTHON:-.venv/bin/python}"
"$PY" -c "import matplotlib" 2>/dev/null || "$PY" -m pip install -q -e ".[bench]"
