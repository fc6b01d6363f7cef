"""`--slo 'p99<50ms,errors<0.1%'`: pass/fail thresholds, and the knee of a ramp.

Terms, comma-separated, each `METRIC OP VALUE` with OP one of < <= > >=:

- `p50`, `p99.9`, … any percentile, and `max`, `mean`: latency, with a unit
  (`us`, `ms`, `s`);
- `errors`: a share of all requests (`0.1%`) or a count (`errors<10`);
- `rps`: achieved answers per second.

The run fails when any term does not hold (k6's thresholds). For a ramp
(`--stages`) each second is also checked on its own latency and error terms
(`rps` says nothing about one second of a ramp), and the **knee** is the
highest target rate of a second that held, before the first two failing
seconds in a row: one bad second (a pause, a reload) does not end the
search, a saturated server does. Seconds in which the client itself fell
behind its schedule say nothing about the server and are passed over.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingress.loadtest.series import Second

_TERM = re.compile(r"^\s*(p\d+(?:\.\d+)?|max|mean|errors|rps)\s*(<=|>=|<|>)\s*"
                   r"(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s|%)?\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_TO_MS = {"us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3}
# Failing seconds in a row that mark the knee.
SUSTAINED = 2


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    metric: str  # "p99.9", "max", "mean", "errors", "rps"
    op: str
    limit: float  # ms for latency, a fraction for "errors" given in %, else as given
    share: bool  # errors given as a share (%) rather than a count

    @property
    def percentile(self) -> float | None:
        return float(self.metric[1:]) if self.metric.startswith("p") else None

    @property
    def per_second(self) -> bool:
        return self.metric != "rps"

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.limit)


def parse_slo(text: str) -> tuple[Term, ...]:
    terms = []
    for part in text.split(","):
        match = _TERM.match(part)
        if match is None:
            raise ValueError(f"SLO term {part.strip()!r}: want e.g. p99<50ms, max<1s, "
                             "errors<0.1%, rps>=1000")
        metric, op, number, unit = match.groups()
        value = float(number)
        latency = metric.startswith("p") or metric in ("max", "mean")
        if latency:
            if unit not in _TO_MS:
                raise ValueError(f"SLO term {part.strip()!r}: a latency needs a unit "
                                 "(us, ms or s)")
            value *= _TO_MS[unit]
            if metric.startswith("p") and not 0 < float(metric[1:]) < 100:
                raise ValueError(f"SLO term {part.strip()!r}: percentile must be within 0..100")
        elif metric == "errors" and unit not in (None, "%"):
            raise ValueError(f"SLO term {part.strip()!r}: errors are a share (%) or a count")
        elif metric == "rps" and unit is not None:
            raise ValueError(f"SLO term {part.strip()!r}: rps takes a plain number")
        share = metric == "errors" and unit == "%"
        terms.append(Term(part.strip(), metric, op, value / 100 if share else value, share))
    return tuple(terms)


@dataclass(frozen=True, slots=True)
class Observed:
    """What a term is checked against: a whole run, or one second of it."""

    latency_ms: Callable[[float], float]  # percentile (100: max) → ms
    mean_ms: float
    requests: int
    errors: int
    rps: float


def value_of(term: Term, seen: Observed) -> float:
    if term.metric == "errors":
        if term.share:
            return seen.errors / seen.requests if seen.requests else 0.0
        return float(seen.errors)
    if term.metric == "rps":
        return seen.rps
    if term.metric == "mean":
        return seen.mean_ms
    return seen.latency_ms(100.0 if term.metric == "max" else float(term.metric[1:]))


@dataclass(frozen=True, slots=True)
class Verdict:
    term: Term
    value: float
    passed: bool


def check(terms: Sequence[Term], seen: Observed) -> list[Verdict]:
    verdicts = []
    for term in terms:
        value = value_of(term, seen)
        verdicts.append(Verdict(term, value, term.holds(value)))
    return verdicts


def second_observed(second: Second) -> Observed:
    # Per-second latencies are kept for the percentiles the terms name (series.py).
    return Observed(latency_ms=lambda p: second.latency_ms.get(p, 0.0), mean_ms=0.0,
                    requests=second.sent, errors=second.errors, rps=float(second.answered))


@dataclass(frozen=True, slots=True)
class Knee:
    rate: float | None  # target rps of the last good second; None if the first one failed
    achieved: float | None  # answers in that second
    failed_at: float | None  # target rate where the sustained failure began; None: never
    t: int | None  # the second the knee was found at


def knee(terms: Sequence[Term], seconds: Sequence[Second], lag_limit_ms: float) -> Knee:
    per_second = [t for t in terms if t.per_second and t.metric != "mean"]
    best: Second | None = None
    failing: list[Second] = []
    for second in seconds:
        if not second.sent or second.lag_ms > lag_limit_ms:
            continue
        if all(v.passed for v in check(per_second, second_observed(second))):
            failing = []
            if best is None or (second.target or 0.0) > (best.target or 0.0):
                best = second
            continue
        failing.append(second)
        if len(failing) >= SUSTAINED:
            break
    failed = failing[0] if len(failing) >= SUSTAINED else None
    return Knee(
        rate=best.target if best is not None else None,
        achieved=float(best.answered) if best is not None else None,
        failed_at=failed.target if failed is not None else None,
        t=best.t if best is not None else None,
    )
