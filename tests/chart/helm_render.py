"""The chart rendered by the real helm binary: where things are, how to run helm.

Shared by the chart tests (through conftest's fixtures) and the end-to-end
test that runs the controller with what the chart renders.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "portico"
HELM = ROOT / ".tools" / "bin" / "helm"
RELEASE = "portico"
NAMESPACE = "ingress"


def ensure_helm() -> Path:
    """helm from .tools/bin, installing it with scripts/tools.sh when absent."""
    if not HELM.exists():
        subprocess.run([str(ROOT / "scripts" / "tools.sh")], check=False, capture_output=True)
    return HELM


def helm_or_skip() -> Path:
    path = ensure_helm()
    if not path.exists():
        reason = f"helm not found at {path}; run scripts/tools.sh"
        # CI must notice a missing tool rather than pass with nothing tested.
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def run_helm(helm: Path, *args: str, values: Mapping[str, Any] | None = None,
             tmp_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(helm), *args]
    if values is not None:
        assert tmp_dir is not None
        text = json.dumps(values, sort_keys=True)
        values_file = tmp_dir / f"values-{hashlib.sha1(text.encode()).hexdigest()[:12]}.json"
        values_file.write_text(text)  # JSON is YAML, so helm reads it as values
        command += ["--values", str(values_file)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def template(helm: Path, values: Mapping[str, Any], tmp_dir: Path,
             tests: bool = False) -> list[dict[str, Any]]:
    """`helm template` of the release in its namespace, parsed into objects.

    Only the release's own objects, unless `tests`: then only its `helm test` hooks.
    """
    args = ["--show-only", "templates/tests/loadtest.yaml"] if tests else ["--skip-tests"]
    result = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args,
                      values=values, tmp_dir=tmp_dir)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
