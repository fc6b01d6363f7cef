"""README's `portico check` example is what `portico check` prints on tests/data/check."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingress.cli import main

ROOT = Path(__file__).resolve().parents[2]
START = "<!-- check-example:start -->\n```\n"
END = "```\n<!-- check-example:end -->"


def test_readme_example_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", "--manifests", str(ROOT / "tests" / "data" / "check"),
          "--ingress-class", "nginx", "--configmap", "ingress-nginx/ingress-nginx-controller"])
    readme = (ROOT / "README.md").read_text()
    shown = readme[readme.index(START) + len(START):readme.index(END)]
    assert shown == capsys.readouterr().out
