"""How the status writer merges the builder's conditions into what an object shows."""

from __future__ import annotations

from ingress.build.gateway.status import Condition
from ingress.operator.gateway_status import gateway_addresses, merge_conditions

NOW = "2026-01-02T03:04:05Z"
BEFORE = "2025-01-01T00:00:00Z"


def shown(kind: str, status: str, generation: int = 1) -> dict[str, object]:
    return {"type": kind, "status": status, "reason": "R", "message": "",
            "observedGeneration": generation, "lastTransitionTime": BEFORE}


def test_transition_time_moves_only_when_the_status_does() -> None:
    merged = merge_conditions(
        [shown("Accepted", "True"), shown("Programmed", "True")],
        (Condition("Accepted", "True", "Accepted", "", 2),
         Condition("Programmed", "False", "Invalid", "why", 2)), NOW)
    assert merged is not None
    times = {c["type"]: c["lastTransitionTime"] for c in merged}
    assert times == {"Accepted": BEFORE, "Programmed": NOW}
    assert {c["observedGeneration"] for c in merged} == {2}


def test_conditions_of_other_types_are_kept() -> None:
    merged = merge_conditions([shown("example.com/Custom", "True")],
                              (Condition("Accepted", "True", "Accepted", "", 1),), NOW)
    assert merged is not None
    assert [c["type"] for c in merged] == ["example.com/Custom", "Accepted"]


def test_a_newer_generation_shown_is_not_overwritten_from_a_stale_build() -> None:
    assert merge_conditions([shown("Accepted", "True", generation=3)],
                            (Condition("Accepted", "False", "Invalid", "", 2),), NOW) is None


def test_addresses_by_type() -> None:
    assert gateway_addresses([{"ip": "192.0.2.1"}, {"hostname": "lb.example.com"}]) == [
        {"type": "IPAddress", "value": "192.0.2.1"},
        {"type": "Hostname", "value": "lb.example.com"}]


def test_occasional_conditions_we_no_longer_raise_are_removed() -> None:
    merged = merge_conditions(
        [shown("Accepted", "True"), shown("PartiallyInvalid", "True"),
         shown("portico.dev/Conflicted", "True"), shown("example.com/Custom", "True")],
        (Condition("Accepted", "True", "Accepted", "", 1),), NOW,
        ("PartiallyInvalid", "portico.dev/Conflicted"))
    assert merged is not None
    assert [c["type"] for c in merged] == ["example.com/Custom", "Accepted"]
