"""Kubernetes objects → RoutingTable, purely. See `builder.build`."""

from ingress.build.builder import build
from ingress.build.result import BuildResult

__all__ = ["BuildResult", "build"]
