"""Rewrite the README's annotation and ConfigMap references from their catalogs.

ingress/build/annotations/catalog.py and ingress/build/config/catalog.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ingress.build.annotations.catalog import markdown_table
from ingress.build.config import catalog as config_catalog
from ingress.build.config.keys import READINGS

BEGIN = "<!-- annotation-reference:begin (make annotations-table) -->"
END = "<!-- annotation-reference:end -->"
CONFIG_BEGIN = "<!-- configmap-reference:begin (make annotations-table) -->"
CONFIG_END = "<!-- configmap-reference:end -->"


def _between(text: str, begin: str, end: str, table: str) -> str:
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}{end}{tail}"


def with_table(readme: str) -> str:
    return _between(readme, BEGIN, END, markdown_table())


def with_configmap_table(readme: str) -> str:
    defaults = {key: reading.default for key, reading in READINGS.items()}
    return _between(readme, CONFIG_BEGIN, CONFIG_END, config_catalog.markdown_table(defaults))


def main() -> int:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    readme.write_text(with_configmap_table(with_table(readme.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
