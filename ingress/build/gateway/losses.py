"""Matches an HTTPRoute asks for that another object's route takes first.

Precedence decides them (spec: ties across routes go to the oldest), so the
route stays Accepted; but its owner must be able to see, on the route, that
some of its requests go elsewhere. Each loss is a `Conflict` Problem (log
line, Event) and, on the route's parents that serve the host it happened
on, a `portico.dev/Conflicted` condition. The winner is named only when it
is in the route's own namespace (GEP-1713: status must not show other
users' objects).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ingress.build.gateway.status import (
    CONFLICTED,
    TRUE,
    Condition,
    ParentStatus,
    RouteStatus,
)
from ingress.model import ObjectRef, Problem


@dataclass(frozen=True, slots=True)
class Loss:
    """`loser`'s match (at `field`) on `host` that `winner` takes first."""

    loser: ObjectRef
    field: str
    host: str
    path: str  # "PathPrefix path '/'"
    winner: ObjectRef
    message: str  # the Problem's words, for the operator

    def problem(self) -> Problem:
        return Problem(self.loser, self.field, self.message, "Conflict")

    def __str__(self) -> str:
        winner = str(self.winner) if self.winner.namespace == self.loser.namespace else (
            f"another namespace's {self.winner.kind}")
        return f"host {self.host or '*'!r} {self.path} ({self.field}) goes to {winner}"


def _parent(parent: ParentStatus, losses: list[Loss]) -> ParentStatus:
    accepted = parent.conditions[0]
    if not losses or accepted.status != TRUE:
        return parent
    message = "requests of these matches are taken first by other routes: " + "; ".join(
        dict.fromkeys(map(str, losses)))
    condition = Condition(CONFLICTED, TRUE, "MatchesTaken", message,
                          accepted.observed_generation)
    return ParentStatus(parent.parent_ref, (*parent.conditions, condition))


def with_losses(statuses: Iterable[RouteStatus], losses: Iterable[Loss],
                served_hosts: Mapping[ObjectRef, Sequence[frozenset[str]]]) -> tuple[
                    RouteStatus, ...]:
    """`statuses` with each loss reported on the parents that serve its host."""
    by_route: dict[ObjectRef, list[Loss]] = {}
    for loss in losses:
        by_route.setdefault(loss.loser, []).append(loss)
    found = []
    for status in statuses:
        lost = by_route.get(status.ref, [])
        hosts = served_hosts.get(status.ref, ())
        found.append(RouteStatus(status.ref, tuple(
            _parent(parent, [loss for loss in lost if i < len(hosts) and loss.host in hosts[i]])
            for i, parent in enumerate(status.parents))))
    return tuple(found)
