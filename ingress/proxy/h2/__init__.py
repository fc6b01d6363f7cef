"""HTTP/2: client connections (h2 and h2c), their streams, and the gRPC upstream connections.

The codec is `h2` (python-hyper). One `h2` state machine lives per
connection, so HPACK tables stay warm for its lifetime; streams are plain
objects driven by the connection's callbacks, not Tasks.
"""

import logging


def _quiet(*args: object, **kwargs: object) -> None:
    return None


# hpack logs every field it codes at DEBUG: dozens of discarded log calls per request
# (≈5% of a gRPC call's CPU time) unless its logger's `debug` is a plain no-op.
logging.getLogger("hpack.hpack").debug = _quiet  # type: ignore[method-assign]
