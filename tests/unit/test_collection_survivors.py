"""Survivors of many objects are frozen after a table; a few are left to the full passes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ingress.collection import MANY_SURVIVORS, freeze_if_many_survived


@pytest.fixture()
def clean_oldest_generation() -> Iterator[None]:
    gc.collect()
    gc.freeze()  # what the test process holds already is out of the way
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("clean_oldest_generation")
def test_many_survivors_are_frozen_and_a_few_are_not() -> None:
    few = [[i] for i in range(1_000)]
    gc.collect()
    assert not freeze_if_many_survived()
    assert len(gc.get_objects(generation=2)) >= len(few)  # left where full passes see them
    many = [[i] for i in range(MANY_SURVIVORS + 1)]
    gc.collect()
    assert freeze_if_many_survived()
    assert len(gc.get_objects(generation=2)) < len(few)  # out of the collector's sight
    assert len(many) == MANY_SURVIVORS + 1
