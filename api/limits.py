"""Per-client rate limits: a token bucket per client, checked in plain ASGI middleware before
the route (and before the body is read).

A client is the API key when a request carries the right one, else the client address
(``scope["client"]``: behind a reverse proxy, run uvicorn with ``--forwarded-allow-ips`` so
that this is the caller's address). Wrong keys do not get a bucket of their own, so trying
many keys gains nothing. Buckets live in the worker process: with N workers a client may get
up to N times the rate.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time

from starlette.types import ASGIApp, Receive, Scope, Send


class TokenBuckets:
    """``rate`` tokens per second into a bucket of ``burst`` per key; full when first seen."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        tokens, when = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - when) * self.rate)

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has a token (0 when it has one now); takes nothing."""
        with self._lock:
            return max(0.0, (1.0 - self._level(key, time.monotonic())) / self.rate)

    def take(self, key: str) -> float:
        """Take a token: 0 when there was one, else the seconds until there is (nothing
        taken)."""
        now = time.monotonic()
        with self._lock:
            tokens = self._level(key, now)
            if tokens < 1.0:
                return (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_keys:
                self._forget(now)
            return 0.0

    def _forget(self, now: float) -> None:
        # Full buckets carry no information; if that is not enough, the oldest half goes.
        self._buckets = {k: v for k, v in self._buckets.items()
                         if v[0] + (now - v[1]) * self.rate < self.burst}
        if len(self._buckets) > self.max_keys:
            keep = sorted(self._buckets.items(), key=lambda kv: kv[1][1])[len(self._buckets) // 2:]
            self._buckets = dict(keep)


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def given_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key a request offers, in ``X-API-Key`` or ``Authorization: Bearer``."""
    if x_api_key is not None:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def key_matches(given: str | None, expected: str | None) -> bool:
    return given is not None and expected is not None and \
        secrets.compare_digest(given.encode(), expected.encode())


class RateLimitMiddleware:
    """429 ``rate_limited`` with Retry-After for a client over its bucket, on every route."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets, api_key: str | None,
                 metrics=None) -> None:
        self.app, self.buckets, self.api_key, self.metrics = app, buckets, api_key, metrics

    def client(self, scope: Scope) -> str:
        headers = dict(scope["headers"])
        header = headers.get(b"x-api-key")
        auth = headers.get(b"authorization")
        given = given_key(header.decode("latin-1") if header is not None else None,
                          auth.decode("latin-1") if auth is not None else None)
        if key_matches(given, self.api_key):
            return "key"
        return "addr:" + (scope["client"][0] if scope.get("client") else "unknown")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(self.client(scope))
        if not wait:
            await self.app(scope, receive, send)
            return
        if self.metrics is not None:
            self.metrics.limited.labels("rate").inc()
        after = retry_after(wait)
        body = json.dumps({"code": "rate_limited", "message": "too many requests from this "
                           f"client; try again in {after}s"}).encode()
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/json"),
                                (b"retry-after", after.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
