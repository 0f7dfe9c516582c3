"""Plain ASGI middleware (cheaper per request than Starlette's BaseHTTPMiddleware): request
metrics, and the body-size limit that answers 413."""

from __future__ import annotations

import json
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """The server's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("songspace_requests", "HTTP requests answered.",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("songspace_request_seconds", "Time to answer a request.",
                                 ("method", "route"), buckets=_BUCKETS, registry=self.registry)
        self.errors = Counter("songspace_errors", "Requests answered with a 4xx or 5xx.",
                              ("route", "status"), registry=self.registry)
        self.artifact = Gauge("songspace_artifact_info", "The artifact version being served "
                              "(1 for the current one).", ("version",), registry=self.registry)
        self.reloads = Counter("songspace_reloads", "Artifact reloads.", ("outcome",),
                               registry=self.registry)
        self.events = Counter("songspace_events", "Listening events accepted.",
                              registry=self.registry)
        self.events_waiting = Gauge(
            "songspace_events_waiting", "Logged events naming songs the served catalogue "
            "lacks: kept in the log, applied by a catalogue that has them.",
            registry=self.registry)
        self.limited = Counter("songspace_rate_limited", "Requests refused with 429 by the "
                               "per-client limits (rate: requests, auth: failed keys).",
                               ("limit",), registry=self.registry)

    def artifact_loaded(self, resources, previous=None) -> None:
        if previous is not None:
            self.artifact.remove(previous.version)
        self.artifact.labels(resources.version).set(1)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The route template, not the path: /songs/{song_id}, so labels stay few.
            route = getattr(scope.get("route"), "path_format", None) or "unmatched"
            method = scope["method"]
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
            self.metrics.requests.labels(method, route, str(status)).inc()
            if status >= 400:
                self.metrics.errors.labels(route, str(status)).inc()


class BodyLimitMiddleware:
    """Refuse request bodies over `limit` bytes with 413, by Content-Length when there is one,
    else by counting the chunks as they arrive (before the route sees any of them)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"code": "body_too_large", "message":
                           f"request body over the limit of {self.limit:,} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.limit:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                await self._refuse(send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)
