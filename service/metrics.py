"""Prometheus metrics of one app instance, in a registry of its own (several apps may share a process)."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("skd_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram("skd_http_request_seconds", "HTTP request latency", ["route"], registry=r)
        self.graphql_errors = Counter("skd_graphql_errors", "GraphQL errors by code", ["code"], registry=r)
        self.batch_size = Histogram(
            "skd_completion_batch_size",
            "Live generations per model call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.batch_seconds = Histogram("skd_completion_batch_seconds", "Seconds per batched model call", registry=r)
        self.cache = Counter("skd_completion_cache", "Completion cache lookups", ["result"], registry=r)
        self.models_loaded = Gauge("skd_model_loaded", "1 when the model is loaded", ["role"], registry=r)

    def on_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def on_cache(self, hits: int, misses: int) -> None:
        self.cache.labels(result="hit").inc(hits)
        self.cache.labels(result="miss").inc(misses)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestMetrics:
    """Count and time every HTTP request by method, route and status: plain ASGI, with none of the
    per-request task and body streaming that a `BaseHTTPMiddleware` adds."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            route = getattr(scope.get("route"), "path", "other")  # set by the router once it matched
            self.metrics.requests.labels(method=scope["method"], route=route, status=str(status)).inc()
            self.metrics.latency.labels(route=route).observe(time.perf_counter() - started)
