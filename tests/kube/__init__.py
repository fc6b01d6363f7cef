"""An in-memory Kubernetes API (kmock) and helpers to run Portico against it."""
