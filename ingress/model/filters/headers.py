"""Headers the controller ConfigMap's proxy-set-headers sets on every request sent upstream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ingress.model.filters.base import Filter, Phase
from ingress.model.filters.extauth import Template


@dataclass(frozen=True, slots=True)
class ProxySetHeaders(Filter):
    """nginx's `proxy_set_header NAME "VALUE"`: each value may use nginx variables."""

    PHASE: ClassVar[Phase] = Phase.CONTENT
    headers: tuple[tuple[bytes, Template], ...]  # lower-case names
