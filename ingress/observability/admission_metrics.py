"""ingress-nginx's admission families: `check_success`, `check_errors` and `admission_*`.

As in `internal/ingress/metric/collectors/{controller,admission}.go`: every
review of an Ingress of our class counts once, by namespace and Ingress, as
a success (admitted) or an error (rejected); the `admission_*` gauges
describe the last review. Portico renders no configuration text, so
ingress-nginx's `admission_config_size` has nothing to measure and is not
exported; its "render" step is Portico's choice of the Ingresses to build
with the reviewed one, its "test" step their build.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from prometheus_client.metrics_core import Metric

from ingress.observability.families import Families

# Distinct Ingresses counted by name; reviews of any further ones are booked under
# empty labels, so that a flood of made-up names cannot grow /metrics without bound.
MAX_COUNTED_INGRESSES = 10_000
_LABELS = ("namespace", "ingress")


class AdmissionCheck(NamedTuple):
    """One review of an Ingress of our class."""

    namespace: str
    name: str
    allowed: bool
    tested: int  # Ingresses built: the reviewed one and those it can collide with
    select_seconds: float  # choosing them
    build_seconds: float  # building them


class AdmissionStats:
    def __init__(self) -> None:
        # (namespace, ingress) → [admitted, rejected]
        self.checks: dict[tuple[str, str], list[int]] = {}
        self.last: AdmissionCheck | None = None
        self.last_roundtrip_seconds = 0.0

    def record(self, check: AdmissionCheck, roundtrip_seconds: float) -> None:
        key = (check.namespace, check.name)
        counts = self.checks.get(key)
        if counts is None:
            if len(self.checks) >= MAX_COUNTED_INGRESSES:
                key = ("", "")
            counts = self.checks.setdefault(key, [0, 0])
        counts[0 if check.allowed else 1] += 1
        self.last = check
        self.last_roundtrip_seconds = roundtrip_seconds


class AdmissionCollector:
    def __init__(self, stats: AdmissionStats, families: Families) -> None:
        self._stats = stats
        self._families = families

    def collect(self) -> Iterator[Metric]:
        f, stats = self._families, self._stats
        success = f.new("check_success",
                        "Cumulative number of Ingress controller syntax check operations",
                        "counter")
        errors = f.new("check_errors", "Cumulative number of Ingress controller errors during "
                       "syntax check operations", "counter")
        for key, (admitted, rejected) in sorted(stats.checks.items()):
            if admitted:
                f.sample(success, "", _LABELS, key, admitted)
            if rejected:
                f.sample(errors, "", _LABELS, key, rejected)
        yield errors
        yield success
        last = stats.last or AdmissionCheck("", "", True, 0, 0.0, 0.0)
        for name, help_text, value in (
            ("admission_tested_ingresses",
             "The length of ingresses processed by the admission controller", last.tested),
            ("admission_tested_duration",
             "The processing duration of the admission controller tests (float seconds)",
             last.build_seconds),
            ("admission_render_ingresses",
             "The length of ingresses rendered by the admission controller", last.tested),
            ("admission_render_duration", "The processing duration of ingresses rendering by "
             "the admission controller (float seconds)", last.select_seconds),
            ("admission_roundtrip_duration", "The complete duration of the admission "
             "controller at the time to process a new event (float seconds)",
             stats.last_roundtrip_seconds),
        ):
            gauge = f.new(name, help_text, "gauge")
            f.sample(gauge, "", (), (), value)
            yield gauge
