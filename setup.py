"""Compiles the data plane's per-request modules with mypyc (the metadata is in pyproject.toml).

Which modules: ingress/compiled.py. Without a C compiler or Python's headers
(or with PORTICO_PURE_PYTHON=1) the install is pure Python and works the same.
"""

import os
import shutil
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def _load_compiled_list():
    """ingress/compiled.py, read without importing the package (nor its dependencies)."""
    spec = spec_from_file_location("_portico_compiled", ROOT / "ingress" / "compiled.py")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _missing_toolchain():
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    compiler = new_compiler()
    customize_compiler(compiler)
    program = compiler.compiler_so[0]
    if shutil.which(program) is None:
        return f"no C compiler ({program})"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "no Python headers (Python.h)"
    return ""


def _compiling():
    """Whether to compile at all: checked for every setup.py command, cheaply."""
    compiled = _load_compiled_list()
    if compiled.pure_requested():
        print(f"portico: {compiled.PURE_ENV} is set: pure Python")
        return False
    missing = _missing_toolchain()
    if missing:
        print(f"portico: {missing}: pure Python", file=sys.stderr)
        return False
    return True


def _extensions():
    compiled = _load_compiled_list()
    from mypyc.build import mypycify

    # Type-checking is `make lint`'s job; here mypy only infers what the compiler needs, and
    # pip's isolated build has none of the dependencies: their types count as Any.
    flags = ["--config-file=", "--ignore-missing-imports", "--python-version=3.11"]
    try:
        # One C file per module, so the shared library's parts compile on every core.
        extensions = mypycify([*flags, *compiled.MODULES], opt_level="3", multi_file=True,
                              group_name=compiled.SHARED)
    except (Exception, SystemExit) as error:  # mypyc exits on what it cannot compile
        print(f"portico: mypyc failed ({error}): pure Python", file=sys.stderr)
        return []
    for extension in extensions:  # mypyc writes the group's header under build/ingress/
        extension.include_dirs.append(os.path.join("build", *compiled.SHARED.split(".")[:-1]))
    return extensions


class OptionalBuildExt(build_ext):
    """Runs mypyc only when extensions are built (pip runs setup.py three times for one
    install), compiles the C files on every core, and leaves a pure-Python install, not a
    broken one, when either fails."""

    def finalize_options(self):
        if self.distribution.ext_modules is _TO_COMPILE:
            self.distribution.ext_modules = _extensions()
        super().finalize_options()

    def build_extensions(self):
        if self.inplace:  # extensions of modules no longer compiled would still be imported
            for old in (ROOT / "ingress").rglob("*.so"):
                old.unlink()
        # distutils compiles one extension's C files one after the other, and the shared
        # library holds nearly all of the code: give its files a compiler each.
        self.compiler.compile = _parallel(self.compiler.compile, os.cpu_count() or 1)
        try:
            super().build_extensions()
        except Exception as error:
            for extension in self.extensions:  # a half-built set would not import
                Path(self.get_ext_fullpath(extension.name)).unlink(missing_ok=True)
            self.extensions = []  # nothing to copy next to the sources or into a wheel
            print(f"portico: compiling failed, pure Python: {error}", file=sys.stderr)

    def copy_extensions_to_source(self):
        super().copy_extensions_to_source()
        # An extension that needed no rebuild is copied with its old time, which may predate
        # an edit of its source: ingress/compiled.py would then take it for stale.
        for extension in self.extensions:
            os.utime(ROOT / self.get_ext_filename(extension.name))


def _parallel(compile_files, workers):
    def compile_each(sources, *args, **kwargs):
        if len(sources) < 2 or workers < 2:
            return compile_files(sources, *args, **kwargs)
        with ThreadPoolExecutor(workers) as pool:
            parts = pool.map(lambda source: compile_files([source], *args, **kwargs), sources)
            return [obj for objects in parts for obj in objects]

    return compile_each


# Until build_ext runs mypyc: what makes the wheel platform-specific.
_TO_COMPILE = [Extension("ingress.native__mypyc", [])]
setup(ext_modules=_TO_COMPILE if _compiling() else [], cmdclass={"build_ext": OptionalBuildExt})
