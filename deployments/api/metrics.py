"""Prometheus metrics on a per-app registry, and the middleware that counts requests."""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE_LATEST", "ApiMetrics", "MetricsMiddleware", "route_template"]


class ApiMetrics:
    """The app's metrics, on its own registry (so tests can build many apps).

    Attributes:
        registry: the registry `/metrics` exposes; add more metrics with `counter`, `gauge`
            and `histogram` (e.g. per-camera fps) so they appear there too.
        requests_total: `witness_api_requests_total{method,route,status}`.
        request_seconds: `witness_api_request_seconds{route}` histogram.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests_total = self.counter(
            "witness_api_requests_total", "HTTP requests served", ("method", "route", "status")
        )
        self.request_seconds = self.histogram("witness_api_request_seconds", "HTTP request latency (s)", ("route",))

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        """A new counter on this registry."""
        return Counter(name, documentation, labelnames=labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        """A new gauge on this registry."""
        return Gauge(name, documentation, labelnames=labels, registry=self.registry)

    def histogram(
        self, name: str, documentation: str, labels: Sequence[str] = (), buckets: Sequence[float] | None = None
    ) -> Histogram:
        """A new histogram on this registry (default latency buckets unless `buckets` is given)."""
        extra = {} if buckets is None else {"buckets": buckets}
        return Histogram(name, documentation, labelnames=labels, registry=self.registry, **extra)

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


def route_template(scope: Scope) -> str:
    """The matched route's full path template (`/api/v1/jobs/{job_id}`), or `"unmatched"`.

    Templates, not raw paths, keep label cardinality bounded. FastAPI resolves included
    routers lazily, so `scope["route"].path` lacks the prefixes of the routers that include
    it; those are taken from the request path (they hold no parameters).
    """
    template = getattr(scope.get("route"), "path", None)
    if not isinstance(template, str):
        return "unmatched"
    path_segments = [s for s in scope.get("path", "").split("/") if s]
    template_segments = [s for s in template.split("/") if s]
    if ":path}" in template or len(template_segments) > len(path_segments):
        return template
    prefix = path_segments[: len(path_segments) - len(template_segments)]
    full = "/" + "/".join(prefix + template_segments)
    return full + "/" if template.endswith("/") and full != "/" else full


class MetricsMiddleware:
    """ASGI middleware counting every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = route_template(scope)
            self.metrics.requests_total.labels(scope["method"], route, str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(time.perf_counter() - start)
