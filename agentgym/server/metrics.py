"""Prometheus metrics of one environment server (each server has its own registry)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

STEP_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sessions = Gauge("agentgym_open_sessions", "Sessions currently open", registry=self.registry)
        self.steps = Counter("agentgym_steps", "Environment steps applied", ["env_id"], registry=self.registry)
        self.step_latency = Histogram(
            "agentgym_step_latency_seconds", "Time inside env.step", ["env_id"], buckets=STEP_LATENCY_BUCKETS, registry=self.registry
        )
        self.errors = Counter("agentgym_errors", "Error answers by error type", ["type"], registry=self.registry)
        self.replays = Counter("agentgym_replayed_answers", "Retried operations answered from the stored result", registry=self.registry)
        self.reaped = Counter("agentgym_reaped_sessions", "Sessions closed for idling past the TTL", registry=self.registry)
        self._step_children: dict[str, tuple[Any, Any]] = {}
        self.failed_sessions = Counter("agentgym_failed_sessions", "Sessions marked failed", registry=self.registry)

    def observe_step(self, env_id: str, seconds: float) -> None:
        children = self._step_children.get(env_id)
        if children is None:  # `labels()` looks the child up each call: keep them per env id
            children = self._step_children[env_id] = (self.steps.labels(env_id), self.step_latency.labels(env_id))
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
