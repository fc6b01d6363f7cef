"""When each request of an open-loop run is due: a constant rate or k6-style ramps.

A schedule is a list of segments over which the target rate moves linearly
from one value to the next (a constant rate is one flat segment). Request
`j` (from 0) is due when the integral of the rate reaches `j`, so a ramp
from 0 to 500 rps over 30 s sends 7,500 requests, spaced ever closer.
Several worker processes share one schedule by taking every n-th request.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from dataclasses import dataclass

_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """'90', '90s', '1.5m', '500ms', '1h' → seconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration (e.g. 30s, 2m, 500ms)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True, slots=True)
class Segment:
    start: float  # seconds from the start of the run
    length: float  # seconds
    from_rate: float  # requests per second at `start`
    to_rate: float  # at `start + length`
    before: float  # requests due before `start` (the integral so far)

    @property
    def count(self) -> float:
        return (self.from_rate + self.to_rate) / 2 * self.length

    def integral(self, t: float) -> float:
        """Requests due from `start` to `start + t`, 0 <= t <= length."""
        slope = (self.to_rate - self.from_rate) / self.length
        return self.from_rate * t + slope * t * t / 2

    def inverse(self, n: float) -> float:
        """Seconds after `start` at which the segment's `n`-th request is due."""
        if n <= 0:
            return 0.0
        half_slope = (self.to_rate - self.from_rate) / self.length / 2
        # Root of half_slope·t² + from_rate·t - n = 0, in the form that stays
        # exact when the slope is zero or tiny (no division by it).
        root = math.sqrt(max(0.0, self.from_rate**2 + 4 * half_slope * n))
        return min(self.length, 2 * n / (self.from_rate + root))


class Schedule:
    def __init__(self, stages: list[tuple[float, float]], start_rate: float = 0.0) -> None:
        """`stages`: (seconds, rate to reach by their end), starting from `start_rate`."""
        if not stages:
            raise ValueError("a schedule needs at least one stage")
        segments: list[Segment] = []
        t = before = 0.0
        rate = start_rate
        for length, target in stages:
            if length <= 0:
                raise ValueError(f"stage of {length:g} s: must last more than 0 s")
            if target < 0:
                raise ValueError(f"stage rate {target:g}: must not be negative")
            segment = Segment(t, length, rate, target, before)
            segments.append(segment)
            t, before, rate = t + length, before + segment.count, target
        self.segments = tuple(segments)
        self.duration = t
        # Request j is due at the time the integral reaches j; those due before the end run.
        self.total = math.ceil(before - 1e-9)
        self._starts = [s.start for s in segments]
        self._befores = [s.before for s in segments]
        if self.total < 1:
            raise ValueError("the stages add up to no request at all")

    @classmethod
    def constant(cls, rate: float, duration: float) -> Schedule:
        if rate <= 0:
            raise ValueError(f"rate {rate:g}: must be positive")
        return cls([(duration, rate)], start_rate=rate)

    def due_by(self, elapsed: float) -> float:
        """Requests due in the first `elapsed` seconds (the integral of the rate)."""
        if elapsed <= 0:
            return 0.0
        if elapsed >= self.duration:
            return float(self.total)
        segment = self.segments[bisect_right(self._starts, elapsed) - 1]
        return segment.before + segment.integral(elapsed - segment.start)

    def due(self, elapsed: float) -> int:
        """How many requests (from request 0) are due at `elapsed` seconds."""
        if elapsed < 0:
            return 0
        return min(self.total, math.floor(self.due_by(elapsed)) + 1)

    def at(self, j: int) -> float:
        """Seconds from the start at which request `j` is due."""
        # The last segment starting at or before j: segments holding no request
        # (a 0 → 0 stage) share their `before` with the next one and are passed over.
        segment = self.segments[max(0, bisect_right(self._befores, j) - 1)]
        return segment.start + segment.inverse(j - segment.before)

    def target_in_second(self, second: int) -> float:
        """Requests the schedule sends in second `second` of the run."""
        return self.due_by(second + 1) - self.due_by(second)

    def peak_rate(self) -> float:
        return max(max(s.from_rate, s.to_rate) for s in self.segments)


def parse_stages(text: str) -> Schedule:
    """k6's `--stages 30s:500,60s:5000,30s:0`: ramp from 0 to each rate over each duration."""
    stages: list[tuple[float, float]] = []
    for part in text.split(","):
        length, sep, rate = part.strip().partition(":")
        if not sep:
            raise ValueError(f"stage {part!r}: want DURATION:RATE, e.g. 30s:500")
        try:
            stages.append((parse_duration(length), float(rate)))
        except ValueError as error:
            raise ValueError(f"stage {part!r}: {error}") from None
    return Schedule(stages)


class Share:
    """Worker `index` of `count` sends requests index, index + count, index + 2·count, …"""

    def __init__(self, schedule: Schedule, index: int, count: int) -> None:
        self.schedule = schedule
        self.index = index
        self.count = count
        self.total = len(range(index, schedule.total, count))

    def due(self, elapsed: float) -> int:
        overall = self.schedule.due(elapsed)
        return len(range(self.index, overall, self.count))

    def at(self, i: int) -> float:
        return self.schedule.at(i * self.count + self.index)
