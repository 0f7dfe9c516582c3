"""Request and response bodies, with the examples the OpenAPI schema shows."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)

from recsys.catalog import NAME_PATTERN
from recsys.profiles import EVENTS

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
EventKind = Literal[EVENTS]  # type: ignore[valid-type]
SongRef = Field(min_length=1, max_length=200, pattern=NAME_PATTERN,
                description="A song id, or a title ('title', 'title artist' or 'artist "
                "title'; the most played match wins); a name needs a letter or a digit.",
                examples=["268", "Hotel California"])
SongName = Annotated[str, SongRef]
# Request bodies: unknown fields are rejected, not ignored; numbers are strict (false is not
# 0, "5" is not 5).
STRICT = ConfigDict(extra="forbid")


def _json_integer(value: object) -> object:
    """A JSON integer, as JSON Schema reads one: 5 or 5.0, never false, "5" or 5.5."""
    if isinstance(value, bool | str):
        raise ValueError("Input should be a valid integer")
    return value


def _text(value: object) -> object:
    """A date-time as the schema states it, a string (not a number of seconds)."""
    if value is not None and not isinstance(value, str):
        raise ValueError("Input should be an RFC 3339 date-time string")
    return value


Integer = Annotated[int, BeforeValidator(_json_integer)]
# `int | None` inside the Annotated, so that the schema keeps minimum/maximum.
OptionalInteger = Annotated[int | None, BeforeValidator(_json_integer)]
# `ts` as the schema states it: an RFC 3339 date-time whose year, as written, is 1970-2199.
TS_PATTERN = r"^(19[7-9][0-9]|2[01][0-9][0-9])-"
# What parse_mix reads, as the schema states it: comma-separated parts, each 'tag', 'tag:w' or
# 'w% tag', where a tag has no ',', ':' or '%' and a weight is a plain decimal with a non-zero
# digit (so a mix is never all zero and never overflows).
_TAG = r"[^,:%\s](?:[^,:%]*[^,:%\s])?"
_DIGITS = r"[0-9]{0,6}[1-9][0-9]{0,6}"  # a non-zero digit among at most 13
_WEIGHT = rf"[+-]?(?:{_DIGITS}(?:\.[0-9]{{0,6}})?|[0-9]{{0,6}}\.{_DIGITS})"
_PART = rf"\s*(?:{_TAG}(?:\s*:\s*{_WEIGHT})?|{_WEIGHT}\s*%\s*{_TAG})\s*"
MIX_PATTERN = rf"^{_PART}(?:,{_PART})*$"
# What a request that misses a pattern is told (instead of the pattern itself).
PATTERN_HINTS = {
    NAME_PATTERN: "a song id, or a title or artist with at least one letter or digit, was "
                  "expected",
    MIX_PATTERN: "tags with optional weights were expected, e.g. 'rock:0.7,country:0.3' or "
                 "'70% rock, 30% country' (weights: plain decimals, not zero)",
}



def _example(strict: bool = False, **values) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [values]}, **(STRICT if strict else {}))


class Song(BaseModel):
    model_config = _example(song_id="760", title="Hotel California", artist="The Eagles")
    song_id: str
    title: str
    artist: str
    estimated: Literal[True] | None = Field(
        default=None, description="Present (true) only for a song song2vec learnt no vector "
        "for: the vector its answers come from is estimated from its title, artist and tags.")

    @model_serializer(mode="wrap")
    def _marked_only_when_estimated(self, handler):
        body = handler(self)
        if body.get("estimated") is None:
            body.pop("estimated", None)
        return body


class SongDetail(Song):
    model_config = _example(song_id="760", title="Hotel California", artist="The Eagles",
                            plays=93, has_vector=True, tags=["classic rock", "rock"])
    plays: int = Field(description="Times the song appears in the training playlists.")
    has_vector: bool = Field(description="Whether the song has a vector: learnt, or "
                             "estimated (then `estimated` is true).")
    tags: list[str]


class SearchHit(Song):
    plays: int


class SearchResponse(BaseModel):
    model_config = _example(query="hotel cal", results=[
        {"song_id": "760", "title": "Hotel California", "artist": "The Eagles", "plays": 93}])
    query: str
    results: list[SearchHit]


class ScoredSong(Song):
    model_config = _example(song_id="1149", title="Take It Easy", artist="The Eagles",
                            score=0.8123)
    score: float


class SimilarResponse(BaseModel):
    model_config = _example(
        song={"song_id": "760", "title": "Hotel California", "artist": "The Eagles"},
        results=[{"song_id": "1149", "title": "Take It Easy", "artist": "The Eagles",
                  "score": 0.8123}])
    song: Song
    results: list[ScoredSong]


class ResultsResponse(BaseModel):
    results: list[ScoredSong]


class TextPlaylistResponse(BaseModel):
    model_config = _example(query="outlaw country about trucks and whiskey", results=[
        {"song_id": "198", "title": "Whiskey River", "artist": "Willie Nelson",
         "score": 14.21}])
    query: str
    results: list[ScoredSong] = Field(description="In playlist order; a score is how well "
                                      "the song fits the words and the rest of the playlist.")


class WeightedSong(BaseModel):
    model_config = STRICT
    song: str = SongRef
    weight: float = Field(default=1.0, gt=0, le=100, strict=True,
                          description="How much of the song.")


class ArithmeticRequest(BaseModel):
    model_config = _example(strict=True, positive=[{"song": "Hotel California", "weight": 1.0}],
                            negative=[{"song": "Bohemian Rhapsody", "weight": 0.5}], k=10)
    positive: list[WeightedSong] = Field(min_length=1, max_length=50,
                                         description="More like these.")
    negative: list[WeightedSong] = Field(default=[], max_length=50,
                                         description="Less like these.")
    k: Integer = Field(default=10, ge=1, le=1000)


class ContinueRequest(BaseModel):
    model_config = _example(strict=True, songs=["Hotel California", "Bohemian Rhapsody"], k=10)
    songs: list[SongName] = Field(min_length=1, max_length=500, description="The playlist so far, "
                             "oldest first (ids or titles).")
    k: Integer = Field(default=10, ge=1, le=1000)
    temperature: float = Field(default=0.0, ge=0, le=10, strict=True, description=(
        "0 takes the k best songs; above 0 the k songs are drawn from the ranker's scores."))
    seed: OptionalInteger = Field(default=None, ge=0, le=2**31 - 1,
                                 description="Seed of the draw (same seed, same songs).")
    grow: bool = Field(default=False, strict=True, description="Grow a whole playlist of k "
                       "new songs, each pick joining the playlist before the next is chosen.")
    max_per_artist: OptionalInteger = Field(default=None, ge=1, le=1000, description=(
        "With grow: at most this many songs of one artist, the given songs included."))


class TagScore(BaseModel):
    tag: str
    score: float = Field(description="Cosine with the tag's direction.")
    percentile: float = Field(description="Share of all songs scoring lower on this tag.")


class SongTagsResponse(BaseModel):
    model_config = _example(
        song={"song_id": "760", "title": "Hotel California", "artist": "The Eagles"},
        tags=[{"tag": "classic rock", "score": 0.41, "percentile": 0.97}])
    song: Song
    tags: list[TagScore]


class TagSearchResponse(BaseModel):
    model_config = _example(mix={"rock": 0.7, "country": 0.3}, results=[
        {"song_id": "760", "title": "Hotel California", "artist": "The Eagles",
         "score": 0.52}])
    mix: dict[str, float]
    results: list[ScoredSong]


class Event(BaseModel):
    model_config = _example(strict=True, song="268", ts="2024-05-01T18:22:11Z", ms_played=200000,
                            event="play", duration_ms=391000)
    song: str = SongRef
    ts: Annotated[dt.datetime | None, BeforeValidator(_text)] = Field(
        default=None, json_schema_extra={"pattern": TS_PATTERN},
        description=f"When, between {EARLIEST:%Y} and {LATEST.year - 1} (the year as written); "
        "default: now. Without a UTC offset, UTC.")
    ms_played: Integer = Field(default=0, ge=0, le=86_400_000)
    event: EventKind = "play"
    duration_ms: OptionalInteger = Field(default=None, gt=0, le=86_400_000)

    @field_validator("ts")
    @classmethod
    def _plausible(cls, ts: dt.datetime | None) -> dt.datetime | None:
        if ts is None:
            return None
        if not EARLIEST.year <= ts.year < LATEST.year:
            raise ValueError(f"must lie between {EARLIEST:%Y} and {LATEST.year - 1}")
        return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


class EventsRequest(BaseModel):
    model_config = _example(strict=True,
                            events=[{"song": "268", "ms_played": 200000, "event": "play"},
                                    {"song": "Bohemian Rhapsody", "event": "like"}])
    events: list[Event] = Field(min_length=1)


class EventsAccepted(BaseModel):
    model_config = _example(user_id="alice", accepted=2, seq=1042)
    user_id: str
    accepted: int
    seq: int = Field(description="Position of the last event in the durable log.")


class Profile(BaseModel):
    model_config = _example(user_id="alice", has_profile=True, events=120, songs=64,
                            liked_songs=58, interests=2, last_event="2024-05-01T18:22:11Z",
                            tags=[{"tag": "classic rock", "score": 0.31, "percentile": 0.95}])
    user_id: str
    has_profile: bool = Field(description="False while the user has only skips or dislikes.")
    events: int
    songs: int
    liked_songs: int
    interests: int = Field(description="Distinct interests found (0: one taste).")
    last_event: dt.datetime | None
    tags: list[TagScore] = Field(description="The top tag axes of the user's listening.")


class Recommendation(ScoredSong):
    because: Song | None = Field(description="The played song closest to this one.")


class RecommendationsResponse(BaseModel):
    model_config = _example(user_id="alice", results=[
        {"song_id": "1149", "title": "Take It Easy", "artist": "The Eagles", "score": 1.7,
         "because": {"song_id": "760", "title": "Hotel California", "artist": "The Eagles"}}])
    user_id: str
    results: list[Recommendation]


class SimilarUser(BaseModel):
    user_id: str
    score: float
    songs_in_common: int


class SimilarUsersResponse(BaseModel):
    model_config = _example(user_id="alice", results=[
        {"user_id": "bob", "score": 0.82, "songs_in_common": 12}])
    user_id: str
    results: list[SimilarUser]


ArtistName = Annotated[str, Field(min_length=1, max_length=200, pattern=NAME_PATTERN,
                                  description="An artist as people type it (case, accents and "
                                  "punctuation ignored).", examples=["The Eagles"])]


class PlaylistExclusion(BaseModel):
    model_config = STRICT
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN, description="The "
                      "playlist's name; excluding the same name again replaces its songs.")
    songs: list[SongName] = Field(min_length=1, max_length=500, description="Its songs.")


class ExclusionsRequest(BaseModel):
    """At least one of songs, artists and playlist."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"songs": ["Hotel California"], "artists": ["The Eagles"]}],
        "minProperties": 1})
    songs: list[SongName] = Field(default_factory=list, min_length=1, max_length=500,
                                  description="Songs (ids or titles).")
    artists: list[ArtistName] = Field(default_factory=list, min_length=1, max_length=100,
                                      description="Artists: every song of theirs.")
    # Not nullable: null is refused like any other value that is not a playlist.
    playlist: PlaylistExclusion = Field(  # type: ignore[assignment]
        default=None, description="A playlist: its songs, under its name.")

    @model_validator(mode="after")
    def _something(self) -> ExclusionsRequest:
        if not self.model_fields_set:
            raise ValueError("nothing to exclude: give songs, artists or a playlist")
        return self


class ExcludedSong(Song):
    added: dt.datetime


class ExcludedArtist(BaseModel):
    artist: str
    songs: int = Field(description="The artist's songs in the catalogue.")
    added: dt.datetime


class ExcludedPlaylist(BaseModel):
    name: str
    songs: list[Song]
    added: dt.datetime


class ExclusionsResponse(BaseModel):
    model_config = _example(user_id="alice", songs=[
        {"song_id": "760", "title": "Hotel California", "artist": "The Eagles",
         "added": "2024-05-01T18:22:11Z"}], artists=[
        {"artist": "The Eagles", "songs": 12, "added": "2024-05-01T18:22:11Z"}],
        playlists=[], excluded_songs=12)
    user_id: str
    songs: list[ExcludedSong]
    artists: list[ExcludedArtist]
    playlists: list[ExcludedPlaylist]
    excluded_songs: int = Field(description="Catalogue songs these keep out of the user's "
                                "profile, recommendations and similar users, in all.")


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    model_config = _example(status="ready", version="model@3f2a9c01b2de", model="/srv/model",
                            created="2024-05-01T12:00:00+00:00", songs=75262,
                            songs_with_vector=41000, profiles="profiles@a1b2c3d4e5f6",
                            generation="ready", loaded_at="2024-05-01T12:01:00Z")
    status: Literal["ready"]
    version: str = Field(description="Folder name and manifest hash of the served model.")
    model: str
    created: str | None
    songs: int
    songs_with_vector: int
    profiles: str | None
    events_waiting: int = Field(default=0, description="Logged events naming songs this "
                                "catalogue lacks: kept in the log, applied when a served "
                                "catalogue has those songs again.")
    generation: str = Field(description="'ready', or why POST /generate is unavailable.")
    loaded_at: dt.datetime


class Reloaded(BaseModel):
    model_config = _example(version="run-2@9d8e7f6a5b4c", previous="run-1@3f2a9c01b2de",
                            seconds=2.4)
    version: str
    previous: str
    seconds: float


class ErrorBody(BaseModel):
    model_config = _example(code="song_not_found", message="no song 'hotel californa' in the "
                            "catalogue; did you mean 'Hotel California' by The Eagles (760)",
                            suggestions=[{"song_id": "760", "title": "Hotel California",
                                          "artist": "The Eagles"}])
    code: str = Field(description="Stable, for programs.")
    message: str = Field(description="For people.")
    field: str | None = None
    errors: list[dict] | None = None
    suggestions: list[Song] | None = None
