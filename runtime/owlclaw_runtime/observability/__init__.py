"""Metrics, structured logs, health and notifications."""

from owlclaw_runtime.observability.hooks import RuntimeObserver

__all__ = ["RuntimeObserver"]
