"""The one schema for songs and playlists, and the error type every reader raises.

Songs:      song_id (str), title (str), artist (str), tags (list[str])
Playlists:  playlist_id (str), position (int32, 0-based order inside the playlist), song_id (str)

Every reader turns its raw format into these two frames, so the rest of songspace never sees
a raw file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

SONG_SCHEMA: dict[str, pl.DataType] = {
    "song_id": pl.Utf8(),
    "title": pl.Utf8(),
    "artist": pl.Utf8(),
    "tags": pl.List(pl.Utf8()),
}
PLAYLIST_SCHEMA: dict[str, pl.DataType] = {
    "playlist_id": pl.Utf8(),
    "position": pl.Int32(),
    "song_id": pl.Utf8(),
}

OnError = Literal["fail", "quarantine"]


class DataError(ValueError):
    """Bad input, located precisely enough for a person to open the file and fix it."""

    def __init__(self, file: str, row: int | str | None, field: str | None, reason: str):
        self.file, self.row, self.field, self.reason = str(file), row, field, reason
        where = self.file
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {reason}")


@dataclass
class ReadReport:
    """What a read did with every input row: nothing is dropped without being counted here."""

    files: list[str] = field(default_factory=list)
    songs: int = 0
    playlists: int = 0
    playlist_rows: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    quarantine_file: str | None = None
    # Catalogue entries with an empty or punctuation-only title or artist ("-" by "-"):
    # kept (playlists use them) but never found by a name and never recommended.
    placeholder_songs: int = 0

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "songs": self.songs,
            "placeholder_songs": self.placeholder_songs,
            "playlists": self.playlists,
            "playlist_rows": self.playlist_rows,
            "quarantined": self.quarantined,
            "quarantined_by_reason": self.quarantined_by_reason,
            "quarantine_file": self.quarantine_file,
        }


@dataclass
class Dataset:
    """A catalogue and the playlists over it, both in the canonical schema."""

    songs: pl.DataFrame
    playlists: pl.DataFrame
    report: ReadReport = field(default_factory=ReadReport)

    def sentences(self) -> list[list[str]]:
        """Playlists as ordered lists of song ids: the 'sentences' song2vec trains on."""
        grouped = self.playlists.group_by("playlist_id", maintain_order=True).agg(
            pl.col("song_id").sort_by("position")
        )
        return grouped["song_id"].to_list()


def empty_songs() -> pl.DataFrame:
    return pl.DataFrame(schema=SONG_SCHEMA)


def empty_playlists() -> pl.DataFrame:
    return pl.DataFrame(schema=PLAYLIST_SCHEMA)
