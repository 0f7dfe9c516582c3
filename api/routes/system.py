"""Liveness, readiness, metrics and the hot reload."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ResourcesDep, WriteAccess
from api.errors import ApiError
from api.lifespan import reload_now
from api.schemas import ErrorBody, Health, Ready, Reloaded
from recsys.artifact import ArtifactError

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health)
async def health() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", response_model=Ready)
async def ready(resources: ResourcesDep, request: Request) -> dict:
    """The artifacts are loaded; which version is served."""
    return {"status": "ready", "version": resources.version, "model": str(resources.model_path),
            "created": resources.created, "songs": len(resources.songs.catalog),
            "songs_with_vector": resources.songs_with_vector,
            "profiles": resources.profiles_version,
            "events_waiting": resources.events_waiting,
            "generation": request.app.state.generator_status, "loaded_at": resources.loaded_at}


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                             "description": "Prometheus text format."}})
async def metrics(request: Request) -> Response:
    """Request counts, latencies, errors, reloads and the artifact version (Prometheus)."""
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)


@router.post("/admin/reload", response_model=Reloaded, dependencies=[WriteAccess],
             responses={401: {"model": ErrorBody, "description": "Missing or wrong API key."},
                        409: {"model": ErrorBody, "description": "The newly published "
                              "artifact cannot be loaded, or is incomplete (no profiles "
                              "while the served version has them); the old one stays "
                              "(`reload_failed`, with the reason)."}})
async def reload(request: Request) -> dict:
    """Load the artifact the settings point at now (following `current`) and swap it in
    atomically; requests in flight finish on the old one."""
    try:
        old, new = await reload_now(request.app)
    except Exception as error:  # whatever is wrong with the new run, the old one stays
        kept = request.app.state.holder.current.version
        reason = str(error) if isinstance(error, ArtifactError | OSError | ValueError) \
            else f"{type(error).__name__}: {error}"
        raise ApiError(409, "reload_failed", f"kept {kept}: {reason}") from None
    return {"version": new.version, "previous": old.version, "seconds": round(new.seconds, 3)}
