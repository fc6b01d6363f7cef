"""The migration report as text for people and as JSON for CI."""

from __future__ import annotations

import json
from typing import Any

from ingress.check.report import AnnotationVerdict, ConfigMapReport, IngressReport, Report
from ingress.model import Problem

_ANNOTATIONS_FIELD = "metadata.annotations["


def _route_problems(ingress: IngressReport) -> list[Problem]:
    """Problems not already shown as an annotation's verdict."""
    return [p for p in ingress.problems if not p.field.startswith(_ANNOTATIONS_FIELD)]


def _short(value: str, limit: int = 40) -> str:
    """An annotation value on one line (snippets run to many)."""
    line = value.strip().splitlines()[0] if value.strip() else ""
    return repr(line if len(line) <= limit and line == value.strip() else line[:limit] + "…")


def _verdict_line(verdict: AnnotationVerdict) -> str:
    note = f": {verdict.note}" if verdict.note else ""
    return f"  {verdict.name}={_short(verdict.value)}: {verdict.verdict}{note}"


def _behaviour(same: bool) -> str:
    return "behaves as before" if same else "WILL BEHAVE DIFFERENTLY"


def _config_text(config: ConfigMapReport) -> list[str]:
    lines = [f"{config.ref}: {_behaviour(config.same)}"]
    lines += [_verdict_line(key) for key in config.keys]
    lines += [f"  problem ({p.reason}): {p.message}" for p in config.problems]
    return lines


def as_text(report: Report) -> str:
    lines: list[str] = [] if report.config is None else _config_text(report.config)
    for ingress in report.ingresses:
        lines.append(f"{ingress.ref}: {_behaviour(ingress.same)}")
        lines += [_verdict_line(annotation) for annotation in ingress.annotations]
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


def _verdicts(verdicts: tuple[AnnotationVerdict, ...] | list[AnnotationVerdict]
              ) -> list[dict[str, str]]:
    return [{"name": v.name, "value": v.value, "verdict": v.verdict.value, "note": v.note}
            for v in verdicts]


def _config_json(config: ConfigMapReport | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {"namespace": config.ref.namespace, "name": config.ref.name, "same": config.same,
            "keys": _verdicts(config.keys), "problems": [_problem(p) for p in config.problems]}


def as_json(report: Report) -> str:
    ingresses: list[dict[str, Any]] = [
        {
            "namespace": ingress.ref.namespace,
            "name": ingress.ref.name,
            "same": ingress.same,
            "annotations": _verdicts(ingress.annotations),
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
        "configMap": _config_json(report.config),
        "ingresses": ingresses,
        "otherProblems": [_problem(p) for p in report.other_problems],
        "summary": {"ingresses": total, "same": total - report.different,
                    "different": report.different},
    }
    return json.dumps(document, indent=2) + "\n"
