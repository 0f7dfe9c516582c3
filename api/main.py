"""The FastAPI application: `create_app()` wires settings, the lifespan that loads the
artifacts, the error handlers, the middleware, one router per resource and the web page.

    uvicorn --factory api.main:create_app     # settings from SONGSPACE_* / .env
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.errors import install_error_handlers
from api.lifespan import lifespan
from api.limits import RateLimitMiddleware, TokenBuckets
from api.middleware import BodyLimitMiddleware, Metrics, MetricsMiddleware
from api.routes import generate, playlists, songs, system, tags, users
from api.schemas import ErrorBody
from api.settings import Settings

STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; nothing heavy happens until its lifespan starts.

    Parameters
    ----------
    settings : Settings, optional
        Read from ``SONGSPACE_*`` environment variables and ``.env`` when not given.
    """
    settings = settings or Settings()  # type: ignore[call-arg]
    app = FastAPI(
        title="songspace",
        version="0.1.0",
        summary="Similar songs, song arithmetic, playlist continuation, tag mixes and taste "
                "profiles over song2vec vectors.",
        lifespan=lifespan,
        # Every error body is an ErrorBody: documented once for all routes (this also
        # replaces FastAPI's default 422 schema, which our handler does not answer).
        responses={400: {"model": ErrorBody, "description": "A body that cannot be parsed "
                         "(`bad_request`)."},
                   413: {"model": ErrorBody, "description": "Body over the size limit "
                         "(`body_too_large`)."},
                   422: {"model": ErrorBody, "description": "Invalid parameter "
                         "(`invalid_parameter`, naming the field in `field`)."},
                   429: {"model": ErrorBody, "description": "Over this client's rate limit "
                         "(`rate_limited`); see Retry-After."},
                   500: {"model": ErrorBody, "description": "Unexpected error."}},
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    for module in (system, songs, playlists, tags, users, generate):
        app.include_router(module.router)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.state.auth_failures = TokenBuckets(settings.auth_failures_per_minute / 60.0,
                                           settings.auth_failures_per_minute)
    if settings.rate_limit:
        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        app.add_middleware(RateLimitMiddleware, metrics=app.state.metrics, api_key=key,
                           buckets=TokenBuckets(settings.rate_limit, settings.rate_burst))
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _schema_limits(app, settings.max_k)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app


def _schema_limits(app: FastAPI, max_k: int) -> None:
    """The OpenAPI schema states the limits this server enforces: `k` and `limit` at most
    max_k (a setting, so not known when the routes are declared)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    for parameter in operation.get("parameters", []):
                        if parameter["name"] in ("k", "limit") and "maximum" in (
                                parameter.get("schema") or {}):
                            parameter["schema"]["maximum"] = max_k
            for model in schema.get("components", {}).get("schemas", {}).values():
                k = model.get("properties", {}).get("k")
                if k is not None and "maximum" in k:
                    k["maximum"] = max_k
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
