"""The Kubernetes source: kopf watches, Ingress status, Events, leader election."""

from ingress.operator.metrics import OperatorMetrics
from ingress.operator.source import KubernetesSource, run_kubernetes_source

__all__ = ["KubernetesSource", "OperatorMetrics", "run_kubernetes_source"]
