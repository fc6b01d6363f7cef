"""Request and response buffering: proxy-request-buffering, proxy-buffering and their sizes.

proxy-request-buffering, client-body-buffer-size, proxy-buffering,
proxy-buffer-size, proxy-buffers-number and proxy-max-temp-file-size, with
nginx's meaning (see `ingress.model.upstream.Buffering`). Each annotation
replaces one part of the route's buffering, which starts from the
controller ConfigMap's.

proxy-busy-buffers-size is checked as nginx checks proxy_busy_buffers_size
(at least one buffer, less than all of them but one) and has no effect: it
caps the response bytes nginx hands its client socket at once, a part
Portico's client transport plays with its fixed 64 KiB write buffer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import Buffering


def on_off(value: str) -> bool:
    text = value.strip().lower()
    if text not in ("on", "off"):
        raise values.InvalidValue(f"must be on or off, not {value!r}")
    return text == "on"


def buffers(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or int(text) < 1:
        raise values.InvalidValue(f"must be a number of buffers (1 or more), not {value!r}")
    return int(text)


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    changes: dict[str, Any] = {
        "request": annotations.parsed("proxy-request-buffering", on_off),
        "body_in_memory": annotations.parsed("client-body-buffer-size", values.size),
        "response": annotations.parsed("proxy-buffering", on_off),
        "buffer_size": annotations.parsed("proxy-buffer-size", values.size),
        "buffers": annotations.parsed("proxy-buffers-number", buffers),
        "max_temp_file": annotations.parsed("proxy-max-temp-file-size", values.size),
    }
    present = {name: value for name, value in changes.items() if value is not None}
    if present:
        base = spec.upstream.buffering or Buffering()
        spec.upstream = replace(spec.upstream, buffering=replace(base, **present))
    busy = annotations.parsed("proxy-busy-buffers-size", values.size)
    if busy is not None:
        problem = busy_buffers_problem(busy, spec.upstream.buffering or Buffering())
        if problem:
            annotations.report("proxy-busy-buffers-size", problem)


def busy_buffers_problem(busy: int, buffering: Buffering) -> str:
    """Why nginx would refuse `busy` as proxy_busy_buffers_size next to `buffering`, or ''."""
    size = buffering.buffer_size
    if busy < size:
        return f"must be at least proxy-buffer-size ({size} bytes), as nginx requires"
    most = (buffering.buffers - 1) * size
    if busy > most:
        return (f"must be at most proxy-buffers-number - 1 times proxy-buffer-size ({most} "
                "bytes), as nginx requires")
    return ""
