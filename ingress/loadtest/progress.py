"""The live view: one line rewritten every second on a terminal, plain lines otherwise."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TextIO

from ingress.loadtest.series import Second

_RED, _RESET, _CLEAR = "\033[31m", "\033[0m", "\r\033[K"
# Without a terminal (CI logs), about this many lines per run.
_PLAIN_LINES = 20


def colors_for(stream: TextIO) -> bool:
    """ANSI colors only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


class Progress:
    def __init__(self, stream: TextIO, duration: float, lag_limit_ms: float,
                 reloads: Callable[[], int]) -> None:
        self.stream = stream
        self.duration = duration
        self.lag_limit_ms = lag_limit_ms
        self.reloads = reloads
        self.tty = stream.isatty()
        self.color = colors_for(stream)
        self.every = 1 if self.tty else max(1, round(duration / _PLAIN_LINES))
        self.errors = 0

    def second(self, second: Second) -> None:
        self.errors += second.errors
        if not self.tty and (second.t + 1) % self.every:
            return
        target = f" (target {second.target:,.0f})" if second.target is not None else ""
        lag = f"lag {second.lag_ms:,.1f} ms"
        if second.lag_ms > self.lag_limit_ms:
            lag = f"{_RED}{lag}: client behind{_RESET}" if self.color else f"{lag}: client behind"
        reloads = self.reloads()
        line = (f"{second.t + 1:>4}/{self.duration:g} s  {second.answered:,}/s{target}  "
                f"p99 {second.latency_ms.get(99.0, 0.0):,.1f} ms  errors {second.errors:,} "
                f"({self.errors:,} in all)" + (f"  reloads {reloads}" if reloads else "")
                + f"  {lag}")
        if self.tty:
            self.stream.write(f"{_CLEAR}{line}")
        else:
            self.stream.write(f"{line}\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
