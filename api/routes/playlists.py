"""Playlists: what comes next, and a playlist from a description."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ResourcesDep, SettingsDep, check_k
from api.errors import ApiError, ask
from api.routes.songs import NO_VECTOR, UNKNOWN_SONG
from api.schemas import ContinueRequest, ErrorBody, ResultsResponse, TextPlaylistResponse

router = APIRouter(prefix="/playlists", tags=["playlists"])


@router.post("/continue", response_model=ResultsResponse,
             responses={**UNKNOWN_SONG, **NO_VECTOR})
def continue_playlist(resources: ResourcesDep, settings: SettingsDep,
                      body: ContinueRequest) -> dict:
    """The songs most likely to come next after a playlist so far, ranked by the two-stage
    ranker; at a temperature above 0 a seeded draw, with `grow` a whole new playlist."""
    songs = resources.songs
    check_k(body.k, settings)
    context = [songs.resolve(s).index for s in body.songs]
    return {"results": ask(lambda: songs.continue_playlist(
        context, body.k, body.temperature, body.seed, body.grow, body.max_per_artist),
        "no_vector", 409)}


@router.get("/from-text", response_model=TextPlaylistResponse, responses={503: {
    "model": ErrorBody, "description": "The model served has no text map, or its text "
    "encoder is not installed here (`text_map_unavailable`)."}})
def playlist_from_text(
    resources: ResourcesDep,
    settings: SettingsDep,
    q: Annotated[str, Query(min_length=1, max_length=300, pattern=r"\S", description="What "
                            "the playlist should be.", examples=["90s gangsta rap"])],
    k: Annotated[int, Query(ge=1, le=1000, description="How many songs (at most the "
                            "server's max_k).")] = 20,
) -> dict:
    """A playlist from a description: songs whose tags, titles and artists fit the words,
    picked so that they also belong together in the song2vec space (a thread: the encoder
    runs for a few milliseconds)."""
    check_k(k, settings)
    if resources.text is None:
        raise ApiError(503, "text_map_unavailable", resources.text_status or "no text map")
    return {"query": q, "results": resources.text.playlist(q, k)}
