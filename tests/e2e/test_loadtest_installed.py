"""A pip-installed Portico, away from the repository, runs `portico loadtest`.

The wheel is built from this checkout and installed with pip into a fresh
virtualenv in a temporary directory; its dependencies come from the test
environment's site-packages (a `.pth` line: no network), which holds
portico only as an editable finder that a plain path entry does not load.
The command then runs from that directory, so nothing of the checkout is
on its path.
"""

from __future__ import annotations

import json
import site
import subprocess
import sys
from pathlib import Path

from e2e.harness import Pods, free_port
from ingress.compiled import PURE_ENV

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A pure-Python wheel: compiling the data plane (setup.py) is not what this is about.
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", PURE_ENV: "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def test_an_installed_wheel_runs_portico_loadtest(tmp_path: Path) -> None:
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--wheel-dir", tmp_path / "dist", ROOT, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("portico-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    (installed_site,) = (venv / "lib").glob("python3*/site-packages")
    (installed_site / "dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
        "--no-index", wheel, cwd=tmp_path)

    where = run(python, "-c", "import ingress.loadtest; print(ingress.loadtest.__file__)",
                cwd=tmp_path).stdout
    assert where.startswith(str(installed_site)), where

    pod = ("127.0.0.2", free_port("127.0.0.2"))
    pods = Pods([pod])
    try:
        proc = run(venv / "bin" / "portico", "loadtest", f"http://{pod[0]}:{pod[1]}/hi",
                   "--rate", "50", "--duration", "1s", "--slo", "errors<1%", "--max-lag", "5000",
                   "--no-plots", "--out", "report", cwd=tmp_path)
    finally:
        pods.close()
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["answered"] == 50 and report["slo"]["pass"] is True
    assert "SLO passed" in proc.stdout
