"""Pickling the model fast, in a form that loads through the constructors.

A frozen slotted dataclass pickles by default through the `__getstate__`
and `__setstate__` that dataclasses add: both look up the class's fields
for every object (about a second each way for a table of 10,000 Ingresses)
and the latter sets the attributes one by one, which a compiled (mypyc)
frozen class refuses. `dumps` reduces each model dataclass to its class and
its constructor's arguments instead: loading calls the constructor, which
also computes the derived fields again, and needs nothing but
`pickle.loads`. A class with a `__reduce__` of its own keeps it. The model
modules the proxy reads per request are compiled (ingress/compiled.py), so
their objects load only this way: pickle them with `dumps` or `ModelPickler`.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
from collections.abc import Callable
from operator import attrgetter
from typing import Any

Reducer = Callable[[Any], tuple[Any, tuple[Any, ...]]]


class _Reducers(dict[type, Reducer]):
    """The reducer of each model dataclass, made when the pickler first meets the class."""

    def __missing__(self, cls: type) -> Reducer:
        if (not cls.__module__.startswith("ingress.model") or not dataclasses.is_dataclass(cls)
                or "__reduce__" in cls.__dict__ or "__reduce_ex__" in cls.__dict__):
            raise KeyError(cls)
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        read = attrgetter(*names) if names else None

        def reduce(obj: Any) -> tuple[Any, tuple[Any, ...]]:
            if read is None:
                return cls, ()
            values = read(obj)
            return cls, values if len(names) > 1 else (values,)

        self[cls] = reduce
        return reduce


class ModelPickler:
    """Pickles one object after another with the model's reducers (`dumps` for one)."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._pickler = pickle.Pickler(self._buffer, pickle.HIGHEST_PROTOCOL)
        self._pickler.dispatch_table = _Reducers()

    def dumps(self, obj: object) -> bytes:
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        self._pickler.clear_memo()  # each result loads on its own
        self._pickler.dump(obj)
        return buffer.getvalue()


def dumps(obj: object) -> bytes:
    return ModelPickler().dumps(obj)
