"""The migration report: what Portico will do with each Ingress, from one pure build.

Nothing here re-implements a rule. Verdicts on annotations come from the
builder's problems (invalid, refused, not supported yet) and from the
annotation catalog (applied, or applied with a difference); the routes are
the built table's. An Ingress behaves as before when the build reported
nothing about it and none of its annotations differs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ingress.build import BuildResult
from ingress.build.annotations import PREFIX
from ingress.build.annotations.catalog import BY_NAME, Status
from ingress.build.annotations.spec import Annotations
from ingress.build.config.catalog import BY_NAME as CONFIG_KEYS
from ingress.model import ObjectRef, Problem, Route, RoutingTable
from ingress.store import Snapshot


class Verdict(StrEnum):
    APPLIED = "applied"
    DIFFERENT = "applied with a difference"
    REFUSED = "refused"
    INVALID = "invalid"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AnnotationVerdict:
    name: str  # with the prefix
    value: str
    verdict: Verdict
    note: str = ""


@dataclass(frozen=True, slots=True)
class RouteLine:
    host: str
    path: str
    path_type: str
    backend: str
    endpoints: int


@dataclass(slots=True)
class IngressReport:
    ref: ObjectRef
    annotations: list[AnnotationVerdict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    routes: list[RouteLine] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """Will it behave as it did under ingress-nginx?"""
        return not self.problems and all(
            a.verdict in (Verdict.APPLIED, Verdict.UNKNOWN) for a in self.annotations
        )


@dataclass(frozen=True, slots=True)
class ConfigMapReport:
    """The controller ConfigMap's keys: the defaults every Ingress starts from."""

    ref: ObjectRef
    keys: tuple[AnnotationVerdict, ...]
    problems: tuple[Problem, ...]  # about the object itself (missing, no data)

    @property
    def same(self) -> bool:
        return not self.problems and all(k.verdict is Verdict.APPLIED for k in self.keys)


@dataclass(frozen=True, slots=True)
class Report:
    ingresses: tuple[IngressReport, ...]
    # Problems of other objects (EndpointSlices, Secrets, the default certificate).
    other_problems: tuple[Problem, ...]
    config: ConfigMapReport | None = None

    @property
    def different(self) -> int:
        return sum(not ingress.same for ingress in self.ingresses)

    @property
    def same(self) -> bool:
        """Will everything behave as it did under ingress-nginx?"""
        return not self.different and (self.config is None or self.config.same)


# The build's problem reasons that are not refusals (those say what Portico will not do).
_VERDICT_OF_PROBLEM = {
    "InvalidAnnotation": Verdict.INVALID,
    "InvalidConfigMap": Verdict.INVALID,
    "UnknownConfigKey": Verdict.UNKNOWN,
}


def _verdict(key: str, value: str, problem: Problem | None, status: Status | None,
             note: str, unknown: str) -> AnnotationVerdict:
    """One key's verdict: the build's problem with it, else what the catalog says."""
    if problem is not None:
        verdict = _VERDICT_OF_PROBLEM.get(problem.reason, Verdict.REFUSED)
        return AnnotationVerdict(key, value, verdict, problem.message)
    if status is None:
        return AnnotationVerdict(key, value, Verdict.UNKNOWN, unknown)
    if status is Status.DIFFERENT:
        return AnnotationVerdict(key, value, Verdict.DIFFERENT, note)
    return AnnotationVerdict(key, value, Verdict.APPLIED)


def _annotation_verdicts(
    body: Mapping[str, Any], problems: list[Problem]
) -> list[AnnotationVerdict]:
    metadata = body.get("metadata")
    raw = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if not isinstance(raw, Mapping):
        return []
    by_field = {problem.field: problem for problem in problems}
    verdicts = []
    for key in sorted(k for k in raw if isinstance(k, str) and k.startswith(PREFIX)):
        name = key[len(PREFIX) :]
        entry = BY_NAME.get(name)
        verdicts.append(_verdict(key, str(raw[key]), by_field.get(Annotations.field(name)),
                                 entry.status if entry else None, entry.note if entry else "",
                                 "not an ingress-nginx annotation"))
    return verdicts


def _config_report(objects: Snapshot, ref: ObjectRef,
                   problems: list[Problem]) -> ConfigMapReport:
    body = objects.get("ConfigMap", {}).get((ref.namespace, ref.name), {})
    data = body.get("data")
    if not isinstance(data, Mapping):
        data = {}
    by_field = {problem.field: problem for problem in problems}
    keys = []
    for key in sorted(data):
        entry = CONFIG_KEYS.get(key)
        keys.append(_verdict(key, str(data[key]), by_field.pop(f'data["{key}"]', None),
                             entry.status if entry else None, entry.note if entry else "",
                             "not an ingress-nginx ConfigMap key"))
    return ConfigMapReport(ref, tuple(keys), tuple(by_field.values()))


def _route_line(route: Route, table: RoutingTable) -> RouteLine:
    backend = route.backend
    return RouteLine(route.host or "*", route.path, route.path_type.value,
                     f"{backend.namespace}/{backend.service}:{backend.port}",
                     len(table.endpoint_set(backend).usable))


def make_report(objects: Snapshot, result: BuildResult,
                config_map: ObjectRef | None = None) -> Report:
    """The report of every Ingress the build owned (its class is the one checked), and of
    the controller ConfigMap the build read (`config_map`)."""
    problems: dict[ObjectRef, list[Problem]] = defaultdict(list)
    for problem in result.problems:
        problems[problem.obj].append(problem)
    routes: dict[ObjectRef, list[RouteLine]] = defaultdict(list)
    for route in result.table.all_routes():
        routes[route.source].append(_route_line(route, result.table))
    ingresses = objects.get("Ingress", {})
    reports = []
    for ref in sorted(result.owned, key=lambda r: (r.namespace, r.name)):
        own = problems.pop(ref, [])
        body = ingresses.get((ref.namespace, ref.name), {})
        reports.append(IngressReport(ref, _annotation_verdicts(body, own), own,
                                     sorted(routes.get(ref, []),
                                            key=lambda r: (r.host, r.path))))
    config = None
    if config_map is not None:
        config = _config_report(objects, config_map, problems.pop(config_map, []))
    others = tuple(p for refs in problems.values() for p in refs)
    return Report(tuple(reports), others, config)
