"""Rewrite the README's annotation reference from ingress/build/annotations/catalog.py."""

from __future__ import annotations

import sys
from pathlib import Path

from ingress.build.annotations.catalog import markdown_table

BEGIN = "<!-- annotation-reference:begin (make annotations-table) -->"
END = "<!-- annotation-reference:end -->"


def with_table(readme: str) -> str:
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{markdown_table()}{END}{tail}"


def main() -> int:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    readme.write_text(with_table(readme.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
