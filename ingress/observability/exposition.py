"""The Prometheus text format (0.0.4), written for the families our collectors build.

prometheus_client's own writer renames every counter family to `<name>_total`
in its HELP and TYPE lines. ingress-nginx's counters `requests`, `success`
and `errors` have no such suffix, and dashboards query them by that exact
name, so the TYPE line here names what the samples are called: a
`CounterMetricFamily` (whose samples are `<name>_total`) is `<name>_total`,
a counter built as a plain `Metric` keeps its exact name.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_TYPES = {"unknown": "untyped", "info": "gauge", "stateset": "gauge"}


def render(registry: CollectorRegistry) -> bytes:
    return "".join(_family(metric) for metric in registry.collect()).encode()


def _family(metric: Metric) -> str:
    name = metric.name
    if isinstance(metric, CounterMetricFamily):  # its samples are `<name>_total`
        name += "_total"
    help_text = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    lines = [f"# HELP {name} {help_text}\n# TYPE {name} {_TYPES.get(metric.type, metric.type)}\n"]
    lines += (f"{s.name}{_labels(s.labels.items())} {go_float(s.value)}\n"
              for s in metric.samples)
    return "".join(lines)


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    text = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + text + "}" if text else ""


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
    return value


def go_float(value: float) -> str:
    """A number as Go's client writes it (strconv 'g', shortest): 2, 0.005, 1e+06, +Inf."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa.removesuffix('.0')}e{exponent[0]}{int(exponent[1:]):02d}"
    whole, _, fraction = text.partition(".")
    sign, digits = ("-", whole[1:]) if whole.startswith("-") else ("", whole)
    if len(digits) > 6:  # Go writes an exponent from 1e6 on, Python from 1e16
        significant = (digits + fraction).rstrip("0")
        mantissa = significant[0] + ("." + significant[1:] if len(significant) > 1 else "")
        return f"{sign}{mantissa}e+{len(digits) - 1:02d}"
    return whole if fraction == "0" else text
