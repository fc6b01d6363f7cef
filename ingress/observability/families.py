"""Building Prometheus families with ingress-nginx's names and constant labels.

ingress-nginx prefixes every family with `nginx_ingress_controller_` and
labels every sample with the controller's namespace, class and pod; a
`Families` carries those so each collector only names what is its own.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric

from ingress.observability.exposition import go_float

PREFIX = "nginx_ingress_controller_"
CONST_LABELS = ("controller_namespace", "controller_class", "controller_pod")


@dataclass(frozen=True, slots=True)
class Families:
    """Family factory for one controller: `controller_*` label values come first on every sample."""

    namespace: str
    controller_class: str
    pod: str

    @classmethod
    def for_controller(cls, namespace: str | None, controller_class: str) -> Families:
        """ingress-nginx's sources: $POD_NAMESPACE (else 'default') and $POD_NAME (else host)."""
        return cls(
            namespace or os.environ.get("POD_NAMESPACE") or "default",
            controller_class,
            os.environ.get("POD_NAME") or socket.gethostname(),
        )

    @property
    def const(self) -> tuple[str, str, str]:
        return (self.namespace, self.controller_class, self.pod)

    def new(self, name: str, help_text: str, typ: str) -> Metric:
        return Metric(PREFIX + name, help_text, typ)

    def sample(self, metric: Metric, suffix: str, labels: Sequence[str],
               values: Sequence[str], value: float) -> None:
        """Add `metric.name + suffix` with the constant labels, then `labels` = `values`."""
        pairs = dict(zip(CONST_LABELS, self.const, strict=True))
        pairs.update(zip(labels, values, strict=True))
        metric.add_sample(metric.name + suffix, pairs, value)

    def histogram(self, metric: Metric, labels: Sequence[str], values: Sequence[str],
                  bounds: Sequence[str], cumulative: Sequence[int], total: float) -> None:
        """One histogram series: `cumulative` has a count per bound of `bounds`, then +Inf."""
        for bound, count in zip((*bounds, "+Inf"), cumulative, strict=True):
            self.sample(metric, "_bucket", (*labels, "le"), (*values, bound), count)
        self.sample(metric, "_sum", labels, values, total)
        self.sample(metric, "_count", labels, values, cumulative[-1])


def bound_labels(bounds: Sequence[float]) -> tuple[str, ...]:
    """`le` values as Go's client writes them: 0.005, 1, 10, 1e+06."""
    return tuple(go_float(b) for b in bounds)
