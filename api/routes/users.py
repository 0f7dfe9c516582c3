"""Users: listening events and exclusions in, taste profiles, recommendations and similar
users out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import StringConstraints

from api.deps import KDep, ResourcesDep, SettingsDep, TasteDep, WriteAccess
from api.errors import ApiError, ask
from api.routes.songs import UNKNOWN_SONG
from api.schemas import (
    ErrorBody,
    EventsAccepted,
    EventsRequest,
    ExclusionsRequest,
    ExclusionsResponse,
    Profile,
    RecommendationsResponse,
    SimilarUsersResponse,
)

router = APIRouter(prefix="/users", tags=["users"])
UserId = Annotated[str, Path(min_length=1, max_length=200, examples=["alice"])]
UNKNOWN_USER = {404: {"model": ErrorBody, "description": "Unknown user (`user_not_found`)."},
                503: {"model": ErrorBody, "description": "The server has no profiles "
                      "(`profiles_unavailable`)."}}
NO_PROFILE = {409: {"model": ErrorBody, "description": "The user has no positive listening "
                    "yet (`no_profile`)."}}


def _millis(ts: dt.datetime | None) -> int:
    return round((ts or dt.datetime.now(dt.UTC)).timestamp() * 1000)  # ts is UTC-aware


@router.post("/{user_id}/events", status_code=202, response_model=EventsAccepted,
             dependencies=[WriteAccess],
             responses={**UNKNOWN_SONG, 503: UNKNOWN_USER[503],
                        401: {"model": ErrorBody, "description": "Missing or wrong API key."},
                        413: {"model": ErrorBody, "description": "Body too large."}})
def post_events(user_id: UserId, body: EventsRequest, resources: ResourcesDep,
                taste: TasteDep, settings: SettingsDep, request: Request) -> dict:
    """Append listening events. They are in the durable log when this answers, and the
    user's profile already includes them."""
    if len(body.events) > settings.max_events:
        raise ApiError(422, "invalid_parameter", f"events: at most {settings.max_events} "
                       "events per request", field="events")
    songs = resources.songs
    rows = [(user_id, songs.catalog.song_ids[songs.resolve(e.song).index], _millis(e.ts),
             e.ms_played, e.event, e.duration_ms) for e in body.events]
    seq = ask(lambda: taste.record(rows), "events_rejected")
    request.app.state.metrics.events.inc(len(rows))
    return {"user_id": user_id, "accepted": len(rows), "seq": seq}


@router.get("/{user_id}/profile", response_model=Profile, responses=UNKNOWN_USER)
def profile(user_id: UserId, resources: ResourcesDep, taste: TasteDep,
            top: Annotated[int, Query(ge=1, le=50, description="How many tag axes.")] = 8
            ) -> dict:
    """The user's taste: counts, the last event and the top tag axes."""
    return taste.summary(user_id, resources.songs.tags, top)


@router.get("/{user_id}/recommendations", response_model=RecommendationsResponse,
            responses={**UNKNOWN_USER, **NO_PROFILE})
def recommendations(
    user_id: UserId,
    taste: TasteDep,
    k: KDep,
    diversity: Annotated[float, Query(ge=0.0, le=1.0, description="0 ranks by score; up to 1 "
                                      "trades score for variety (MMR).")] = 0.0,
    interests: Annotated[bool, Query(description="Blend the user's several interests.")]
    = False,
    include_played: Annotated[bool, Query(description="Also songs already played.")] = False,
) -> dict:
    """Songs for a user, each with the played song that explains it (`because`)."""
    results = ask(lambda: taste.recommend(user_id, k=k, exclude_played=not include_played,
                                          diversity=diversity, interests=interests),
                  "no_profile", 409)
    return {"user_id": user_id, "results": results}


@router.get("/{user_id}/similar", response_model=SimilarUsersResponse,
            responses={**UNKNOWN_USER, **NO_PROFILE})
def similar_users(user_id: UserId, taste: TasteDep, k: KDep) -> dict:
    """Users whose taste profiles are closest to this user's."""
    return {"user_id": user_id,
            "results": ask(lambda: taste.similar_users(user_id, k), "no_profile",
                           409)}


# -- exclusions: what a user keeps out of their taste profile (recsys.exclusions) -------------
EXCLUSION_ERRORS = {404: {"model": ErrorBody, "description": "Unknown user (`user_not_found`), "
                          "song (`song_not_found`, with `suggestions`), artist "
                          "(`artist_not_found`) or exclusion (`exclusion_not_found`); `field` "
                          "names the input."},
                    401: {"model": ErrorBody, "description": "Missing or wrong API key."},
                    503: UNKNOWN_USER[503]}
Names = list[Annotated[str, StringConstraints(min_length=1, max_length=200)]]
NO_NAMES: list[str] = []  # a shared default: never modified


@router.get("/{user_id}/exclusions", response_model=ExclusionsResponse, responses=UNKNOWN_USER)
def exclusions(user_id: UserId, taste: TasteDep) -> dict:
    """The songs, artists and playlists the user keeps out of their taste profile."""
    return taste.exclusions_of(user_id)


@router.post("/{user_id}/exclusions", response_model=ExclusionsResponse,
             dependencies=[WriteAccess], responses=EXCLUSION_ERRORS)
def exclude(user_id: UserId, body: ExclusionsRequest, resources: ResourcesDep,
            taste: TasteDep) -> dict:
    """Exclude songs, artists or a playlist from the user's taste profile: they stop counting
    toward it, are never recommended to the user and do not count in similar users. Durable
    when this answers, and kept through profile rebuilds and updates."""
    playlist = (body.playlist.name, body.playlist.songs) if body.playlist else None
    return taste.exclusions_of(user_id, lambda applied: applied.exclude(
        user_id, resources.songs, body.songs, body.artists, playlist))


@router.delete("/{user_id}/exclusions", response_model=ExclusionsResponse,
               dependencies=[WriteAccess], responses=EXCLUSION_ERRORS)
def remove_exclusions(
    user_id: UserId, resources: ResourcesDep, taste: TasteDep,
    song: Annotated[Names, Query(max_length=100, description="Excluded songs to count again "
                                 "(ids or titles).")] = NO_NAMES,
    artist: Annotated[Names, Query(max_length=100, description="Excluded artists to count "
                                   "again.")] = NO_NAMES,
    playlist: Annotated[Names, Query(max_length=100, description="Excluded playlists to count "
                                     "again, by name.")] = NO_NAMES,
) -> dict:
    """Remove the named exclusions, or without names all of the user's exclusions: those
    songs count again."""
    everything = not (song or artist or playlist)
    return taste.exclusions_of(user_id, lambda applied: applied.remove(
        user_id, resources.songs, song, artist, playlist, everything))
