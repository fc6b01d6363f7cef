"""Every annotation the README marks supported is named by an end-to-end test.

The README's reference table (generated from the catalog) says which
ingress-nginx annotations Portico supports, with or without a difference;
a claim without a test that sends real requests through `portico run`
is not a claim. An e2e test names an annotation by its name, or by the
keyword form the tests' `annotated(...)` helpers take (`_` for `-`).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_ROW = re.compile(r"^\| `([a-z0-9-]+)(?: †)?` \| (supported|supported with a difference) \|")


def supported_in_readme() -> list[str]:
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- annotation-reference:begin", 1)[1].split(
        "<!-- annotation-reference:end", 1)[0]
    return [m[1] for line in table.splitlines() if (m := _ROW.match(line))]


def e2e_sources() -> str:
    here = Path(__file__).resolve()
    return "\n".join(p.read_text() for p in sorted(here.parent.glob("test_*.py")) if p != here)


def test_every_supported_annotation_has_an_e2e_test() -> None:
    names = supported_in_readme()
    assert len(names) > 20  # the table was found and read
    sources = e2e_sources()
    untested = [
        name for name in names
        if not re.search(rf"(?<![a-z0-9_-])({re.escape(name)}|{name.replace('-', '_')})"
                         rf"(?![a-z0-9_-])", sources)
    ]
    assert untested == [], f"supported annotations without an e2e test: {untested}"
