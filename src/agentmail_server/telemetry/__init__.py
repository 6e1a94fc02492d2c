"""Operational visibility: Prometheus metrics, structured logs with request ids, health and readiness."""
