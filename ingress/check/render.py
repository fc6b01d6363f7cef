"""The migration report as text for people and as JSON for CI."""

from __future__ import annotations

import json
from typing import Any

from ingress.check.report import IngressReport, Report
from ingress.model import Problem

_ANNOTATIONS_FIELD = "metadata.annotations["


def _route_problems(ingress: IngressReport) -> list[Problem]:
    """Problems not already shown as an annotation's verdict."""
    return [p for p in ingress.problems if not p.field.startswith(_ANNOTATIONS_FIELD)]


def _short(value: str, limit: int = 40) -> str:
    """An annotation value on one line (snippets run to many)."""
    line = value.strip().splitlines()[0] if value.strip() else ""
    return repr(line if len(line) <= limit and line == value.strip() else line[:limit] + "…")


def as_text(report: Report) -> str:
    lines: list[str] = []
    for ingress in report.ingresses:
        verdict = "behaves as before" if ingress.same else "WILL BEHAVE DIFFERENTLY"
        lines.append(f"{ingress.ref}: {verdict}")
        for annotation in ingress.annotations:
            note = f": {annotation.note}" if annotation.note else ""
            lines.append(f"  {annotation.name}={_short(annotation.value)}: "
                         f"{annotation.verdict}{note}")
        for problem in _route_problems(ingress):
            lines.append(f"  problem ({problem.reason}) {problem.field}: {problem.message}")
        for route in ingress.routes:
            lines.append(f"  route {route.host} {route.path_type} {route.path} -> "
                         f"{route.backend} ({route.endpoints} endpoints)")
    for problem in report.other_problems:
        lines.append(f"{problem} ({problem.reason})")
    total = len(report.ingresses)
    lines.append(f"{total} Ingresses: {total - report.different} behave as before, "
                 f"{report.different} will not")
    return "\n".join(lines) + "\n"


def _problem(problem: Problem) -> dict[str, str]:
    return {"object": str(problem.obj), "field": problem.field, "reason": problem.reason,
            "message": problem.message}


def as_json(report: Report) -> str:
    ingresses: list[dict[str, Any]] = [
        {
            "namespace": ingress.ref.namespace,
            "name": ingress.ref.name,
            "same": ingress.same,
            "annotations": [
                {"name": a.name, "value": a.value, "verdict": a.verdict.value, "note": a.note}
                for a in ingress.annotations
            ],
            "problems": [_problem(p) for p in _route_problems(ingress)],
            "routes": [
                {"host": r.host, "path": r.path, "pathType": r.path_type, "backend": r.backend,
                 "endpoints": r.endpoints}
                for r in ingress.routes
            ],
        }
        for ingress in report.ingresses
    ]
    total = len(report.ingresses)
    document = {
        "ingresses": ingresses,
        "otherProblems": [_problem(p) for p in report.other_problems],
        "summary": {"ingresses": total, "same": total - report.different,
                    "different": report.different},
    }
    return json.dumps(document, indent=2) + "\n"
