"""The annotation catalog: complete, consistent with the parsers, and the README in sync."""

from __future__ import annotations

from pathlib import Path

import pytest
from build_objects import ingress, path, problem_fields, rule, run, service

from ingress.build.annotations.catalog import BY_NAME, CATALOG, REFUSED, Status
from scripts.annotation_table import with_table

README = Path(__file__).resolve().parents[2] / "README.md"
P = "nginx.ingress.kubernetes.io/"


def test_readme_reference_is_generated_from_the_catalog() -> None:
    text = README.read_text()
    assert with_table(text) == text, "run `make annotations-table`"


def test_names_are_unique_and_sorted_and_ingress_nginx_table_has_117() -> None:
    names = [entry.name for entry in CATALOG]
    assert names == sorted(set(names))
    assert sum(entry.listed for entry in CATALOG) == 117


def test_differences_and_refusals_say_why() -> None:
    for entry in CATALOG:
        if entry.status in (Status.DIFFERENT, Status.REFUSED):
            assert entry.note, entry.name


def test_refused_annotations_are_reported_as_problems() -> None:
    refused = [entry.name for entry in CATALOG if entry.status is REFUSED]
    body = ingress("a", [rule("foo.com", path("/"))],
                   annotations={P + name: "x" for name in refused})
    reported = {field for _, field, _ in problem_fields(run(body, service("web")))}
    assert reported == {f'metadata.annotations["{P}{name}"]' for name in refused}


def test_snippet_names_are_in_the_catalog() -> None:
    assert all(BY_NAME[n].status is REFUSED for n in BY_NAME if n.endswith("-snippet"))


@pytest.mark.parametrize(
    ("annotations", "reported"),
    [
        ({"enable-modsecurity": "true"}, ["enable-modsecurity"]),
        ({"enable-modsecurity": "true", "enable-owasp-core-rules": "true",
          "modsecurity-transaction-id": "$request_id"},
         ["enable-modsecurity", "enable-owasp-core-rules", "modsecurity-transaction-id"]),
        # Opting one Ingress out of a ConfigMap-wide WAF asks for nothing Portico lacks.
        ({"enable-modsecurity": "false", "enable-owasp-core-rules": " False "}, []),
    ],
)
def test_refused_annotations_say_why_and_the_ingress_is_served(
    annotations: dict[str, str], reported: list[str]
) -> None:
    result = run(ingress("a", [rule("foo.com", path("/"))],
                         annotations={P + k: v for k, v in annotations.items()}),
                 service("web"))
    assert result.table.route("foo.com", "/") is not None
    assert sorted(p.field for p in result.problems) == [
        f'metadata.annotations["{P}{name}"]' for name in reported]
    for problem in result.problems:
        assert problem.reason == "UnsupportedAnnotation"
        assert "is refused: Portico has no web application firewall" in problem.message
