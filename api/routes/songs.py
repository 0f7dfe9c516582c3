"""Songs: catalogue search, one song, similar songs, tag axes, song arithmetic."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import KDep, ResourcesDep, SettingsDep, SongDep, check_k
from api.errors import ask
from api.schemas import (
    ArithmeticRequest,
    ErrorBody,
    ResultsResponse,
    SearchResponse,
    SimilarResponse,
    SongDetail,
    SongTagsResponse,
)

router = APIRouter(prefix="/songs", tags=["songs"])
# The GET routes are async: each is one short vector or text search, cheaper to run on the
# event loop than to hand to the thread pool. The POST routes resolve lists of songs: threads.
UNKNOWN_SONG = {404: {"model": ErrorBody, "description": "Unknown song, with the closest "
                      "title matches in `suggestions`."}}
NO_VECTOR = {409: {"model": ErrorBody, "description": "A song the model learnt no vector "
                   "for (`no_vector`)."}}


@router.get("", response_model=SearchResponse)
async def search_songs(
    resources: ResourcesDep,
    settings: SettingsDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Words of a title or "
                            "artist; prefixes work, case and accents are ignored.",
                            examples=["queen bohem"])],
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> dict:
    """Type-ahead catalogue search, most played first within each kind of match."""
    check_k(limit, settings, "limit")
    return {"query": q, "results": resources.songs.search_text(q, limit)}


# Before the /{song_id:path} routes, which would otherwise answer OPTIONS and HEAD for it.
@router.post("/arithmetic", response_model=ResultsResponse,
             responses={**UNKNOWN_SONG, **NO_VECTOR})
def arithmetic(resources: ResourcesDep, settings: SettingsDep, body: ArithmeticRequest) -> dict:
    """More like these, less like those: weighted unit vectors added and subtracted."""
    songs = resources.songs
    check_k(body.k, settings)
    positive = [songs.resolve(s.song).index for s in body.positive]
    negative = [songs.resolve(s.song).index for s in body.negative]
    results = ask(lambda: songs.arithmetic(
        positive, negative, body.k, [s.weight for s in body.positive],
        [s.weight for s in body.negative]), "no_vector", 409)
    return {"results": results}


@router.get("/{song_id:path}/similar", response_model=SimilarResponse,
            responses={**UNKNOWN_SONG, **NO_VECTOR})
async def similar_songs(
    resources: ResourcesDep,
    song: SongDep,
    k: KDep,
    exclude_artist: Annotated[bool, Query(description="Leave out the song's own artist.")]
    = False,
    scoring: Annotated[Literal["blend", "in_out", "cosine"], Query(
        description="blend (default): song2vec's in.out, co-listening and tags together; "
                    "in_out: input vector . output vectors alone; cosine: input vectors.")
    ] = "blend",
) -> dict:
    """The songs most like a song: what playlists play next to it, what the same listeners
    play, and the same tags, blended (as `songspace similar` answers)."""
    results = ask(lambda: resources.similar(song, k, exclude_artist, scoring), "no_vector",
                  409)
    return {"song": resources.songs.describe(song), "results": results}


@router.get("/{song_id:path}/tags", response_model=SongTagsResponse,
            responses={**UNKNOWN_SONG, **NO_VECTOR})
async def song_tags(
    resources: ResourcesDep,
    song: SongDep,
    top: Annotated[int, Query(ge=1, le=100, description="How many tag axes.")] = 10,
) -> dict:
    """How much of each tag is in a song: its top tag axes with percentiles."""
    songs = resources.songs
    return {"song": songs.describe(song),
            "tags": ask(lambda: songs.song_tags(song, top), "no_vector", 409)}


@router.get("/{song_id:path}", response_model=SongDetail, responses=UNKNOWN_SONG)
async def get_song(resources: ResourcesDep, song: SongDep) -> dict:
    """One song by id (or title; a title may hold slashes)."""
    songs = resources.songs
    return {**songs.describe(song), "plays": int(songs.plays[song]),
            "has_vector": bool(songs.known[song]),
            "tags": songs.catalog.songs["tags"][song].to_list()}
