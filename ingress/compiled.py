"""Which modules are compiled with mypyc, and whether they run compiled now.

`pip install` (and `make setup`) compiles the modules that run per request
(setup.py reads `MODULES` from this file, which therefore imports nothing of
Portico's): each gets an extension module next to its source, which Python
imports in its place, plus one shared library (`SHARED`). Without a C
compiler the install stays pure Python. At run time `PORTICO_PURE_PYTHON=1`
makes the `ingress` package import every module from its source even where
an extension module was built, so one install runs either way (the pure
test and the benchmark's pure configuration need no second build); so does
an extension module older than its source, which would otherwise run stale
code in an editable checkout.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

PURE_ENV = "PORTICO_PURE_PYTHON"

# Paths relative to the repository root. Chosen by `benchmarks/opcount.py` (bytecodes per
# keep-alive request, pure Python, 2,440 in all: the HTTP/1.1 connection (client, its
# parser and its pace: request_parser, client_flow), routing and forwarding (router,
# forward), the upstream head (request_head), the pod's side (upstream, its pool and the
# response head: endpoint_pool, response_head), the exchange, stats, the balancer and the
# canonical target, and their constants (http). The rest of the package runs per
# connection, per table or per filter a route has: compiling all of `ingress/proxy/` took
# 82 s of CPU instead of 36 for code a plain request does not run. Of the model, what a
# request reads: the route lookup (table), the route and its backend, upstream policy and
# endpoints (routes, backends, upstream). Compiled frozen dataclasses load only
# through their constructors, as `ingress.model.pickling` ships them to the workers; a
# plain `pickle.loads` of what `pickle.dumps` made of them fails.
MODULES = (
    "ingress/proxy/client.py",
    "ingress/proxy/client_flow.py",
    "ingress/proxy/request_parser.py",
    "ingress/proxy/router.py",
    "ingress/proxy/forward.py",
    "ingress/proxy/request_head.py",
    # Subclasses of the compiled Forwarder must be compiled too.
    "ingress/proxy/h2/window.py",
    "ingress/proxy/h2/stream.py",
    "ingress/proxy/upstream.py",
    "ingress/proxy/endpoint_pool.py",
    "ingress/proxy/response_head.py",
    "ingress/proxy/exchange.py",
    "ingress/proxy/balancer.py",
    "ingress/proxy/target.py",
    "ingress/proxy/http.py",
    "ingress/observability/stats.py",
    "ingress/model/table.py",
    "ingress/model/routes.py",
    "ingress/model/backends.py",
    "ingress/model/upstream.py",
)
# mypyc's group name: the compiled code lives in `ingress/native__mypyc.<suffix>`, and each
# module's extension is a small shim that imports it from there.
SHARED = "ingress.native"
# Compiled whenever any module is: what `mode` looks at.
PROBE = "ingress.proxy.client"

_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
# pip writes a wheel's files in any order within a second or so.
_MTIME_SLACK = 2.0


def pure_requested() -> bool:
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def mode() -> str:
    """How the data plane runs, as `portico --version` reports it.

    Found, not imported: the supervisor of workers, which logs it, runs no data plane."""
    probe = importlib.util.find_spec(PROBE)
    if probe is not None and (probe.origin or "").endswith(_SUFFIX):
        return "compiled (mypyc)"
    finder = next((f for f in sys.meta_path if isinstance(f, _SourcesOnly)), None)
    if finder is not None:
        return f"pure Python ({finder.reason})"
    return "pure Python (not compiled at install)"


def stale_extension(root: Path) -> str:
    """Why the extension modules under `root` must not run ('' when they may, or are none).

    One stale module means running them all from their sources: a compiled
    module calls the others' compiled code directly.
    """
    shared = root / (SHARED.replace(".", "/") + "__mypyc" + _SUFFIX)
    # A module taken off the list keeps its old extension until the next compile, and that
    # one would be imported in place of its source and ask the shared library for code it
    # no longer has.
    for built_path in (root / "ingress").rglob("*" + _SUFFIX):
        name = built_path.relative_to(root).as_posix().removesuffix(_SUFFIX) + ".py"
        if built_path != shared and name not in MODULES:
            return f"{name} is compiled but no longer listed in ingress/compiled.py"
    for name in MODULES:
        source = root / name
        try:
            built = source.with_suffix(_SUFFIX).stat().st_mtime
        except FileNotFoundError:
            continue
        if not shared.exists():
            return f"{shared.name} is missing"
        if built + _MTIME_SLACK < source.stat().st_mtime:
            return f"{name} changed after it was compiled"
    return ""


class _SourcesOnly(MetaPathFinder):
    """Finds `ingress.*` modules as sources (or packages), never as extension modules."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if not fullname.startswith("ingress.") or path is None:
            return None
        loaders = (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES)
        for entry in path:
            spec = importlib.machinery.FileFinder(entry, loaders).find_spec(fullname)
            if spec is not None:
                return spec
        return None


def prefer_sources() -> None:
    """Import `ingress.*` from sources from now on, when asked to or when an extension module
    is stale; the `ingress` package calls it before any other of its modules is imported."""
    if any(isinstance(f, _SourcesOnly) for f in sys.meta_path):
        return
    if pure_requested():
        reason = f"{PURE_ENV} is set"
    else:
        stale = stale_extension(Path(__file__).resolve().parent.parent)
        if not stale:
            return
        reason = f"{stale}: run `make setup`"
    sys.meta_path.insert(0, _SourcesOnly(reason))


if __name__ == "__main__":  # the Makefile's list of what to compile again when it changes
    print(" ".join(MODULES))
