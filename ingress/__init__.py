"""Portico: a Kubernetes Ingress controller and reverse proxy."""

from ingress.compiled import prefer_sources

# Before any other module of the package is imported: PORTICO_PURE_PYTHON=1 runs the sources.
prefer_sources()
