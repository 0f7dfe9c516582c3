"""Dependencies that routes declare with ``Annotated`` aliases. They are ``async`` because they
only look things up: FastAPI would run plain functions in its thread pool, a hop that costs
more than the work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request

from api.errors import ApiError
from api.lifespan import Resources
from api.limits import TokenBuckets, given_key, key_matches, retry_after
from api.settings import Settings
from api.taste import Taste
from recsys.catalog import NAME_PATTERN


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_resources(request: Request) -> Resources:
    """The artifacts this request runs on, taken once: a reload meanwhile does not touch it."""
    return request.app.state.holder.current


SettingsDep = Annotated[Settings, Depends(get_settings)]
ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_taste(resources: ResourcesDep) -> Taste:
    if resources.taste is None:
        raise ApiError(503, "profiles_unavailable", "this server has no taste profiles; start "
                       "it with --profiles (SONGSPACE_PROFILES) pointing at a folder written "
                       "by `songspace profiles build`")
    return resources.taste


TasteDep = Annotated[Taste, Depends(get_taste)]


async def song_index(resources: ResourcesDep, song_id: Annotated[str, Path(
        min_length=1, max_length=200, pattern=NAME_PATTERN, description="A song id (or a "
        "title); a name needs a letter or a digit.", examples=["760"])]) -> int:
    """The catalogue row of the song in the path; unknown songs answer 404 with suggestions."""
    return resources.songs.resolve(song_id).index


SongDep = Annotated[int, Depends(song_index)]


def check_k(k: int, settings: Settings, field: str = "k") -> int:
    if k > settings.max_k:
        raise ApiError(422, "invalid_parameter", f"{field}: at most {settings.max_k} results "
                       "per request", field=field)
    return k


async def k_param(settings: SettingsDep, k: Annotated[int, Query(
        ge=1, le=1000, description="How many results (at most the server's max_k).")] = 10
            ) -> int:
    return check_k(k, settings)


KDep = Annotated[int, Depends(k_param)]


async def require_api_key(
    settings: SettingsDep,
    request: Request,
    x_api_key: Annotated[str | None, Header(description="The API key, when one is set.")] = None,
    authorization: Annotated[str | None, Header(description="'Bearer <API key>'.")] = None,
) -> None:
    """Write endpoints need the key when the server has one; reads stay open. A client
    (address) that sent too many wrong or missing keys gets 429 before its key is even
    compared, until its failure bucket refills."""
    if settings.api_key is None:
        return
    failures: TokenBuckets = request.app.state.auth_failures
    client = request.client.host if request.client else "unknown"
    wait = failures.wait(client)
    if wait:
        request.app.state.metrics.limited.labels("auth").inc()
        after = retry_after(wait)
        raise ApiError(429, "rate_limited", "too many failed authentications from this "
                       f"client; try again in {after}s", headers={"Retry-After": after})
    if not key_matches(given_key(x_api_key, authorization),
                       settings.api_key.get_secret_value()):
        failures.take(client)
        raise ApiError(401, "unauthorized", "this endpoint needs the API key in X-API-Key "
                       "(or Authorization: Bearer)")


WriteAccess = Depends(require_api_key)
