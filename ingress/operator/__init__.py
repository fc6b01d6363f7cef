"""The Kubernetes source: kopf watches, Ingress status, Events, leader election."""

from ingress.operator.metrics import OperatorCollector, OperatorMetrics
from ingress.operator.source import KubernetesSource

__all__ = ["KubernetesSource", "OperatorCollector", "OperatorMetrics"]
