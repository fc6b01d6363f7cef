"""Keeping the cyclic garbage collector's full passes off the request path.

A full pass walks every object the collector tracks and holds every thread
meanwhile: with a 10,000-Ingress table and its objects, hundreds of
milliseconds in which no request moves. Python starts one when enough
objects have survived the young generations, which is exactly what
building a table, or unpickling one, makes happen. So:

- what is alive once the first table is served is moved out of the
  collector's sight (`freeze_survivors(full=True)`), before readiness;
- while a build runs, or a large change is staged a part at a time, full
  passes are held off (`FullPasses.hold`); the young generations are still
  collected, a few hundred objects at a time;
- after a large change is installed, its objects are moved out of sight
  too (`freeze_survivors()`), after a pass over the young generations.

None of this objects' memory is kept: reference counting frees the
model's objects, which are never in a cycle. What a freeze does keep is
cyclic garbage that already sits in the oldest generation at that moment;
that happens once per large change, and is small.
"""

from __future__ import annotations

import gc

_NEVER = 1 << 30  # young collections before a full pass: never, in practice


class FullPasses:
    """Holds off full passes until `release` (both may be called more than once)."""

    def __init__(self) -> None:
        self._thresholds: tuple[int, int, int] | None = None

    def hold(self) -> None:
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            gc.set_threshold(self._thresholds[0], self._thresholds[1], _NEVER)

    def release(self) -> None:
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None


def freeze_survivors(full: bool = False) -> None:
    """Move what is alive out of the collector's sight, after a pass (over every generation
    with `full`, which takes long: before a process is ready only)."""
    gc.collect(2 if full else 1)
    gc.freeze()


# Objects in the oldest generation, out of the freeze, above which a full pass would hold the
# process for more than a few milliseconds.
MANY_SURVIVORS = 25_000


def freeze_if_many_survived() -> bool:
    """`freeze_survivors()` when many objects reached the oldest generation since the last
    freeze (a large change, or the bodies the API server sends back after status writes):
    they would otherwise make the next full pass long. Small changes leave a few objects
    there, and the full passes that then come are short and collect cyclic garbage, which
    a freeze would keep."""
    if len(gc.get_objects(generation=2)) <= MANY_SURVIVORS:
        return False
    freeze_survivors()
    return True
