"""Playlists: what comes next."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ResourcesDep, SettingsDep, check_k
from api.errors import ask
from api.routes.songs import NO_VECTOR, UNKNOWN_SONG
from api.schemas import ContinueRequest, ResultsResponse

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
