"""The compiled data plane and its pure-Python fallback run the same sources (ingress/compiled.py).

`make test` runs the suite compiled; here the pure-Python mode forwards real
requests too (benchmarks/opcount.py, in a subprocess), and a stale extension
module is never the one that runs.
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ingress.compiled import MODULES, PURE_ENV, SHARED, mode, stale_extension

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def run(*command: str, pure: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != PURE_ENV}
    if pure:
        env[PURE_ENV] = "1"
    result = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    return result.stdout


def bytecodes_per_request(pure: bool) -> int:
    out = run("-m", "benchmarks.opcount", "--requests", "100", "--warmup", "20", pure=pure)
    match = re.search(r"([\d.]+) Python calls, (\d+) bytecodes", out)
    assert match, out
    return int(match.group(2))


def test_pure_python_forwards_through_the_sources() -> None:
    assert "pure Python (PORTICO_PURE_PYTHON is set)" in run(
        "-m", "ingress.cli", "--version", pure=True)
    pure = bytecodes_per_request(pure=True)
    assert pure > 1000  # the request and response paths ran as Python
    if mode() == "compiled (mypyc)":
        assert bytecodes_per_request(pure=False) < pure / 3


def build(root: Path, *, source_age: float, shared: bool = True) -> None:
    """A tree as setup.py leaves it, each source `source_age` seconds older than its build."""
    for name in MODULES:
        source = root / name
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("")
        source.with_suffix(SUFFIX).write_bytes(b"")
        os.utime(source, (1000.0 - source_age, 1000.0 - source_age))
        os.utime(source.with_suffix(SUFFIX), (1000.0, 1000.0))
    if shared:
        (root / (SHARED.replace(".", "/") + "__mypyc" + SUFFIX)).write_bytes(b"")


@pytest.mark.parametrize(
    ("source_age", "shared", "reason"),
    [
        (0.0, True, ""),
        (-1.0, True, ""),  # newer by less than a wheel takes to unpack
        (-60.0, True, f"{MODULES[0]} changed after it was compiled"),
        (0.0, False, f"{SHARED.split('.')[-1]}__mypyc{SUFFIX} is missing"),
    ],
)
def test_a_stale_build_runs_the_sources(tmp_path: Path, source_age: float, shared: bool,
                                        reason: str) -> None:
    build(tmp_path, source_age=source_age, shared=shared)
    assert stale_extension(tmp_path) == reason


def test_an_extension_left_from_a_module_no_longer_listed_runs_the_sources(
        tmp_path: Path) -> None:
    build(tmp_path, source_age=0.0)
    left = tmp_path / "ingress" / "build" / ("builder" + SUFFIX)
    left.parent.mkdir(parents=True, exist_ok=True)
    left.write_bytes(b"")
    assert stale_extension(tmp_path) == (
        "ingress/build/builder.py is compiled but no longer listed in ingress/compiled.py")


def test_no_build_is_not_stale(tmp_path: Path) -> None:
    assert stale_extension(tmp_path) == ""


def test_every_subclass_of_a_compiled_class_is_compiled() -> None:
    # Python refuses an interpreted class whose base is compiled, at the moment the class
    # statement runs: a module left out of MODULES would fail in production only.
    compiled = {m.removesuffix(".py").replace("/", ".") for m in MODULES}
    classes: dict[str, tuple[str, list[str]]] = {}  # class name → (module, base names)
    for path in sorted((ROOT / "ingress").rglob("*.py")):
        module = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
                classes.setdefault(node.name, (module, bases))
    lonely = []
    for name, (module, bases) in classes.items():
        for base in bases:
            home = classes.get(base, ("", []))[0]
            if home in compiled and module not in compiled:
                lonely.append(f"{module}.{name}({base})")
    assert not lonely, f"add their modules to ingress/compiled.py MODULES: {lonely}"


def test_the_instruction_counts_rig_serves_its_requests() -> None:
    # benchmarks.instructions runs this under valgrind, twice; here it runs bare, once.
    subprocess.run([sys.executable, "-m", "benchmarks.instructions", "--serve", "20"], cwd=ROOT,
                   timeout=60, check=True)
